//! Rendering: a function of the [`App`] and the frame, nothing else (it cannot change state).

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table};
use unicode_width::UnicodeWidthChar;

use super::keys::{FOOTER_KEYS, KEYS, layout, list_has_header, list_offset, list_rows};
use super::model::{App, LogEntry, LogView, Mode, Prompt, ServiceRow, Tone, matches};
use crate::supervisor::printer::time_of_day;
use crate::units::{format_duration, format_size};

/// Prefix colours of the services, in order of first appearance.
const SOURCE_COLORS: &[Color] = &[
    Color::Cyan,
    Color::Yellow,
    Color::Green,
    Color::Magenta,
    Color::Blue,
    Color::LightCyan,
    Color::LightYellow,
    Color::LightGreen,
    Color::LightMagenta,
    Color::LightBlue,
];

/// Styles that turn into plain text without colour (`NO_COLOR`, `TERM=dumb`); bold and reverse
/// stay, so the selection and matches remain visible.
struct Paint {
    color: bool,
}

impl Paint {
    fn fg(&self, color: Color) -> Style {
        if self.color {
            Style::new().fg(color)
        } else {
            Style::new()
        }
    }

    fn state(&self, state: &str) -> Style {
        self.fg(match state {
            "ready" | "running" | "completed" => Color::Green,
            "starting" | "waiting" | "restarting" => Color::Yellow,
            "stopping" => Color::Magenta,
            "crashed" | "failed" | "stale" | "broken" => Color::Red,
            _ => Color::DarkGray,
        })
    }

    fn tone(&self, tone: Tone) -> Style {
        match tone {
            Tone::Busy => self.fg(Color::Yellow),
            Tone::Done => self.fg(Color::Green),
            Tone::Failed => self.fg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }

    fn highlight(&self) -> Style {
        if self.color {
            Style::new().bg(Color::Yellow).fg(Color::Black)
        } else {
            Style::new().add_modifier(Modifier::REVERSED)
        }
    }
}

/// Draws the whole screen.
pub fn draw(app: &App, frame: &mut Frame) {
    let paint = Paint { color: app.color };
    let panes = layout(frame.area(), full_list_width(app));
    draw_header(app, &paint, frame, panes.header);
    draw_services(app, &paint, frame, panes.services);
    draw_log(app, &paint, frame, panes.log);
    draw_status(app, &paint, frame, panes.status);
    draw_footer(&paint, frame, panes.footer);
    if app.help {
        draw_help(&paint, frame, frame.area());
    }
}

fn draw_header(app: &App, paint: &Paint, frame: &mut Frame, area: Rect) {
    let mode = match app.mode {
        Mode::Foreground => "q stops the stack",
        Mode::Attached => "q leaves it running",
    };
    let line = Line::from(vec![
        Span::styled(" reaper ", Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(app.overview.headline.clone()),
        Span::styled(format!(" · {mode}"), paint.fg(Color::DarkGray)),
    ]);
    frame.render_widget(Paragraph::new(line), area);
}

fn dash() -> String {
    "-".to_string()
}

fn uptime(service: &ServiceRow) -> String {
    service.uptime_secs.map_or_else(dash, |u| match u {
        0 => "<1s".to_string(),
        _ => format_duration(std::time::Duration::from_secs(u)),
    })
}

/// A column of the services list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Column {
    Name,
    State,
    Health,
    Pid,
    Uptime,
    Restarts,
    Cpu,
    Rss,
    Ports,
    Held,
}

/// Columns in the order shown, with their widths.
const COLUMNS: &[(Column, &str, u16)] = &[
    (Column::Name, "NAME", 0),
    (Column::State, "STATE", 10),
    (Column::Health, "HEALTH", 9),
    (Column::Pid, "PID", 7),
    (Column::Uptime, "UP", 6),
    (Column::Restarts, "RST", 3),
    (Column::Cpu, "CPU%", 5),
    (Column::Rss, "RSS", 6),
    (Column::Ports, "PORTS", 11),
    (Column::Held, "HELD", 7),
];

/// Which columns go first when the pane is narrow.
const COLUMN_PRIORITY: &[Column] = &[
    Column::Name,
    Column::State,
    Column::Pid,
    Column::Uptime,
    Column::Cpu,
    Column::Rss,
    Column::Health,
    Column::Restarts,
    Column::Ports,
    Column::Held,
];

/// Width of the name column for these services.
pub fn name_width(app: &App) -> u16 {
    let longest = app
        .overview
        .services
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 20);
    u16::try_from(longest).unwrap_or(20)
}

/// Width the services list needs to show every column (borders included).
pub fn full_list_width(app: &App) -> u16 {
    COLUMNS
        .iter()
        .map(|(column, _, width)| if *column == Column::Name { name_width(app) } else { *width } + 1)
        .sum::<u16>()
        + 2
}

/// The columns that fit in `inner` cells, in display order, with their widths.
fn columns_that_fit(app: &App, inner: u16) -> Vec<(Column, &'static str, u16)> {
    let width_of = |column: Column| {
        COLUMNS
            .iter()
            .find(|(c, _, _)| *c == column)
            .map_or(0, |(c, _, w)| {
                if *c == Column::Name {
                    name_width(app)
                } else {
                    *w
                }
            })
    };
    let mut used = 0;
    let mut chosen = Vec::new();
    for column in COLUMN_PRIORITY {
        let width = width_of(*column) + 1;
        if used + width > inner && !chosen.is_empty() {
            break;
        }
        used += width;
        chosen.push(*column);
    }
    COLUMNS
        .iter()
        .filter(|(c, _, _)| chosen.contains(c))
        .map(|(c, title, _)| (*c, *title, width_of(*c)))
        .collect()
}

fn cell(app: &App, paint: &Paint, service: &ServiceRow, column: Column) -> Cell<'static> {
    match column {
        Column::Name => {
            Cell::from(service.name.clone()).style(source_style(app, paint, &service.name))
        }
        Column::State => {
            let state = match app.busy.get(&service.name) {
                Some(doing) => (*doing).to_string(),
                None => service.state.clone(),
            };
            let style = paint.state(&state);
            Cell::from(state).style(style)
        }
        Column::Health => Cell::from(service.health.clone().unwrap_or_else(dash)).style(
            match service.health.as_deref() {
                Some("healthy") => paint.fg(Color::Green),
                Some(_) => paint.fg(Color::Red),
                None => Style::new(),
            },
        ),
        Column::Pid => Cell::from(service.pid.map_or_else(dash, |p| p.to_string())),
        Column::Uptime => Cell::from(uptime(service)),
        Column::Restarts => Cell::from(service.restarts.to_string()),
        Column::Cpu => Cell::from(service.cpu_percent.map_or_else(dash, |c| format!("{c:.1}"))),
        Column::Rss => Cell::from(service.rss_bytes.map_or_else(dash, format_size)),
        Column::Ports => Cell::from(if service.ports.is_empty() {
            dash()
        } else {
            service
                .ports
                .iter()
                .map(u16::to_string)
                .collect::<Vec<_>>()
                .join(",")
        }),
        Column::Held => Cell::from(service.containment.unwrap_or("-")),
    }
}

fn draw_services(app: &App, paint: &Paint, frame: &mut Frame, area: Rect) {
    let columns = columns_that_fit(app, area.width.saturating_sub(2));
    let header = list_has_header(area);
    let rows_shown = list_rows(area);
    let offset = list_offset(app.selected, rows_shown);
    let rows = app
        .overview
        .services
        .iter()
        .enumerate()
        .skip(offset)
        .take(rows_shown)
        .map(|(index, service)| {
            let row = Row::new(
                columns
                    .iter()
                    .map(|(column, _, _)| cell(app, paint, service, *column)),
            );
            if index == app.selected {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
        });
    let title = match &app.overview_error {
        Some(error) => format!(" services: {error} "),
        None => format!(" services ({}) ", app.overview.services.len()),
    };
    let mut table = Table::new(
        rows,
        columns
            .iter()
            .map(|(_, _, width)| Constraint::Length(*width)),
    )
    .column_spacing(1)
    .block(Block::default().borders(Borders::ALL).title(title));
    if header {
        table = table.header(
            Row::new(columns.iter().map(|(_, title, _)| *title))
                .style(Style::new().add_modifier(Modifier::BOLD)),
        );
    }
    frame.render_widget(table, area);
}

fn source_style(app: &App, paint: &Paint, source: &str) -> Style {
    if source == super::model::SUPERVISOR_SOURCE {
        return Style::new().add_modifier(Modifier::BOLD);
    }
    let index = app.sources.get(source).copied().unwrap_or(0);
    paint.fg(SOURCE_COLORS[index % SOURCE_COLORS.len()])
}

/// The spans of one log line: time, prefix, text with the search's matches highlighted.
fn line_spans(
    app: &App,
    paint: &Paint,
    line: &LogEntry,
    prefix_width: usize,
) -> Vec<Span<'static>> {
    let mut spans = Vec::new();
    if app.timestamps {
        let time = line
            .time
            .map_or_else(|| "--:--:--.---".to_string(), time_of_day);
        spans.push(Span::styled(format!("{time} "), paint.fg(Color::DarkGray)));
    }
    if app.view == LogView::All {
        spans.push(Span::styled(
            format!("{:<prefix_width$} | ", line.source),
            source_style(app, paint, &line.source),
        ));
    }
    let text_style = if line.stderr {
        paint.fg(Color::LightRed)
    } else {
        Style::new()
    };
    let mut at = 0;
    if let Some(pattern) = &app.search {
        for (start, end) in matches(&line.text, pattern) {
            spans.push(Span::styled(line.text[at..start].to_string(), text_style));
            spans.push(Span::styled(
                line.text[start..end].to_string(),
                paint.highlight(),
            ));
            at = end;
        }
    }
    spans.push(Span::styled(line.text[at..].to_string(), text_style));
    spans
}

/// Cuts spans into rows of at most `width` columns.
fn wrap(spans: Vec<Span<'static>>, width: usize) -> Vec<Line<'static>> {
    let mut rows = vec![Vec::new()];
    let mut used = 0;
    for span in spans {
        let mut piece = String::new();
        for c in span.content.chars() {
            let w = c.width().unwrap_or(0);
            if used + w > width && used > 0 {
                let row = rows.last_mut().expect("rows is never empty");
                row.push(Span::styled(std::mem::take(&mut piece), span.style));
                rows.push(Vec::new());
                used = 0;
            }
            piece.push(c);
            used += w;
        }
        rows.last_mut()
            .expect("rows is never empty")
            .push(Span::styled(piece, span.style));
    }
    rows.into_iter().map(Line::from).collect()
}

fn draw_log(app: &App, paint: &Paint, frame: &mut Frame, area: Rect) {
    let height = usize::from(area.height.saturating_sub(2));
    let width = usize::from(area.width.saturating_sub(2)).max(1);
    let bottom = app.bottom.unwrap_or(u64::MAX);
    let prefix_width = app
        .sources
        .keys()
        .map(|s| s.chars().count())
        .max()
        .unwrap_or(0);
    let mut shown: Vec<Line> = Vec::new();
    for line in app.visible_lines().rev().filter(|l| l.seq <= bottom) {
        if shown.len() >= height {
            break;
        }
        let spans = line_spans(app, paint, line, prefix_width);
        if app.wrap {
            shown.extend(wrap(spans, width).into_iter().rev());
        } else {
            shown.push(Line::from(spans));
        }
    }
    shown.truncate(height);
    shown.reverse();
    let whose = match &app.view {
        LogView::All => "all services".to_string(),
        LogView::Service(name) => name.clone(),
    };
    let mut title = vec![Span::raw(format!(" log: {whose} "))];
    title.push(if app.following() {
        Span::styled("[follow] ", paint.fg(Color::Green))
    } else {
        Span::styled("[paused: f follows] ", paint.fg(Color::Yellow))
    });
    if let Some(filter) = &app.filter {
        title.push(Span::styled(
            format!("[only '{filter}'] "),
            paint.fg(Color::Cyan),
        ));
    }
    if app.wrap {
        title.push(Span::raw("[wrap] "));
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Line::from(title));
    frame.render_widget(Paragraph::new(shown).block(block), area);
}

fn draw_status(app: &App, paint: &Paint, frame: &mut Frame, area: Rect) {
    let line = if let Some(input) = &app.input {
        let label = match input.prompt {
            Prompt::Search => "/",
            Prompt::Filter => "only lines with: ",
        };
        Line::from(vec![
            Span::styled(label, Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(input.text.clone()),
            Span::styled(" ", Style::new().add_modifier(Modifier::REVERSED)),
        ])
    } else if let Some((message, tone)) = &app.status {
        Line::from(Span::styled(message.clone(), paint.tone(*tone)))
    } else if let Some(search) = &app.search {
        Line::from(Span::raw(format!(
            "search '{search}': n next, N previous, Esc clears"
        )))
    } else {
        Line::default()
    };
    frame.render_widget(Paragraph::new(line), area);
}

fn draw_footer(paint: &Paint, frame: &mut Frame, area: Rect) {
    let mut spans = Vec::new();
    for (key, what) in &KEYS[..FOOTER_KEYS] {
        spans.push(Span::styled(
            format!(" {key}"),
            Style::new().add_modifier(Modifier::BOLD),
        ));
        spans.push(Span::styled(format!(" {what} "), paint.fg(Color::DarkGray)));
    }
    frame.render_widget(Paragraph::new(Line::from(spans)), area);
}

fn draw_help(paint: &Paint, frame: &mut Frame, area: Rect) {
    let key_width = KEYS
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let text_width = KEYS
        .iter()
        .map(|(_, t)| t.chars().count())
        .max()
        .unwrap_or(0);
    let width = ((key_width + text_width + 5) as u16).min(area.width);
    let height = (KEYS.len() as u16 + 2).min(area.height);
    let popup = Rect::new(
        area.x + (area.width - width) / 2,
        area.y + (area.height - height) / 2,
        width,
        height,
    );
    let lines: Vec<Line> = KEYS
        .iter()
        .map(|(key, what)| {
            Line::from(vec![
                Span::styled(
                    format!("{key:>key_width$}  "),
                    Style::new().add_modifier(Modifier::BOLD),
                ),
                Span::raw(*what),
            ])
        })
        .collect();
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(
            Block::default()
                .borders(Borders::ALL)
                .title(" keys (? or Esc closes) ")
                .border_style(paint.fg(Color::Cyan)),
        ),
        popup,
    );
}
