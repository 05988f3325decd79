//! Keys and mouse events to [`Action`]s, and the screen's layout (one function, so a click lands
//! where the drawing put the row).

use crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::layout::{Constraint, Direction, Layout, Rect};

use super::model::{Action, App, Prompt};

/// Lines one wheel notch scrolls.
const WHEEL_LINES: usize = 3;

/// The key help: the footer shows the first few, `?` all of them.
pub const KEYS: &[(&str, &str)] = &[
    ("↑↓/jk", "select"),
    ("Enter", "logs of selection"),
    ("a", "all logs"),
    ("r", "restart"),
    ("s", "stop"),
    ("S", "start"),
    ("f", "follow"),
    ("/", "search"),
    ("q", "quit"),
    ("?", "help"),
    ("n/N", "next/previous match"),
    ("&", "filter: only matching lines"),
    ("Esc", "clear search and filter"),
    ("w", "wrap long lines"),
    ("t", "timestamps"),
    ("PgUp/PgDn", "scroll"),
    ("g/G", "oldest/newest line"),
    ("mouse", "click selects, wheel scrolls"),
];

/// Keys shown in the footer.
pub const FOOTER_KEYS: usize = 10;

/// Where each part of the screen goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Panes {
    /// The header line.
    pub header: Rect,
    /// The services list (with its border).
    pub services: Rect,
    /// The log (with its border).
    pub log: Rect,
    /// The status or prompt line.
    pub status: Rect,
    /// The key footer.
    pub footer: Rect,
}

/// The layout for a terminal of `area`: services on the left (on top when narrow), log beside.
/// `list_width`: what the services list needs for all its columns.
pub fn layout(area: Rect, list_width: u16) -> Panes {
    let [header, body, status, footer] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            Constraint::Length(1),
            Constraint::Min(3),
            Constraint::Length(1),
            Constraint::Length(1),
        ])
        .areas(area);
    let narrow = area.width < 80;
    let [services, log] = if narrow {
        let rows = (body.height / 3).max(3);
        Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Length(rows), Constraint::Min(1)])
            .areas(body)
    } else {
        let columns = list_width.min(area.width * 3 / 5);
        Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Length(columns), Constraint::Min(1)])
            .areas(body)
    };
    Panes {
        header,
        services,
        log,
        status,
        footer,
    }
}

/// Whether the services list in `pane` has room for its column titles (a short pane shows the
/// selected service instead).
pub fn list_has_header(pane: Rect) -> bool {
    pane.height >= 5
}

/// Services the list in `pane` shows at once.
pub fn list_rows(pane: Rect) -> usize {
    let chrome = if list_has_header(pane) { 3 } else { 2 };
    usize::from(pane.height.saturating_sub(chrome)).max(1)
}

/// The layout of `app`'s terminal.
pub fn app_layout(app: &App) -> Panes {
    layout(
        Rect::new(0, 0, app.size.0, app.size.1),
        super::draw::full_list_width(app),
    )
}

/// The first service shown when `rows` fit and `selected` must be visible.
pub fn list_offset(selected: usize, rows: usize) -> usize {
    selected.saturating_sub(rows.saturating_sub(1))
}

/// Rows of the log pane inside its border.
pub fn log_rows(app: &App) -> usize {
    let panes = app_layout(app);
    usize::from(panes.log.height.saturating_sub(2)).max(1)
}

/// The action for a terminal event, if any.
pub fn action_for(app: &App, event: &Event) -> Option<Action> {
    match event {
        Event::Key(key) if key.kind != KeyEventKind::Release => action_for_key(app, key),
        Event::Mouse(mouse) => action_for_mouse(app, mouse),
        Event::Resize(columns, rows) => Some(Action::Resize(*columns, *rows)),
        _ => None,
    }
}

fn action_for_key(app: &App, key: &KeyEvent) -> Option<Action> {
    let control = key.modifiers.contains(KeyModifiers::CONTROL);
    if control && key.code == KeyCode::Char('c') {
        return Some(Action::Quit);
    }
    if app.input.is_some() {
        return match key.code {
            KeyCode::Enter => Some(Action::Submit),
            KeyCode::Esc => Some(Action::Cancel),
            KeyCode::Backspace => Some(Action::Erase),
            KeyCode::Char(c) if !control => Some(Action::Type(c)),
            _ => None,
        };
    }
    let page = log_rows(app).saturating_sub(1).max(1);
    Some(match key.code {
        KeyCode::Up | KeyCode::Char('k') => Action::SelectPrevious,
        KeyCode::Down | KeyCode::Char('j') => Action::SelectNext,
        KeyCode::Enter => Action::ShowSelected,
        KeyCode::Char('a') => Action::ShowAll,
        KeyCode::Char('r') => Action::Restart,
        KeyCode::Char('s') => Action::Stop,
        KeyCode::Char('S') => Action::Start,
        KeyCode::Char('f') => Action::ToggleFollow,
        KeyCode::Char('/') => Action::Begin(Prompt::Search),
        KeyCode::Char('&') => Action::Begin(Prompt::Filter),
        KeyCode::Char('n') => Action::NextMatch,
        KeyCode::Char('N') => Action::PreviousMatch,
        KeyCode::Char('w') => Action::ToggleWrap,
        KeyCode::Char('t') => Action::ToggleTimestamps,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Esc => Action::Cancel,
        KeyCode::PageUp => Action::ScrollUp(page),
        KeyCode::PageDown => Action::ScrollDown(page),
        KeyCode::Char('g') | KeyCode::Home => Action::Top,
        KeyCode::Char('G') | KeyCode::End => Action::Bottom,
        _ => return None,
    })
}

fn action_for_mouse(app: &App, mouse: &MouseEvent) -> Option<Action> {
    let panes = app_layout(app);
    let at = ratatui::layout::Position::new(mouse.column, mouse.row);
    let in_services = panes.services.contains(at);
    let in_log = panes.log.contains(at);
    match mouse.kind {
        MouseEventKind::Down(MouseButton::Left) if in_services => {
            // Below the border and the column titles.
            let first = panes.services.y + 1 + u16::from(list_has_header(panes.services));
            let row = mouse.row.checked_sub(first)?;
            let rows = list_rows(panes.services);
            Some(Action::SelectRow(
                list_offset(app.selected, rows) + usize::from(row),
            ))
        }
        MouseEventKind::ScrollUp if in_log => Some(Action::ScrollUp(WHEEL_LINES)),
        MouseEventKind::ScrollDown if in_log => Some(Action::ScrollDown(WHEEL_LINES)),
        MouseEventKind::ScrollUp if in_services => Some(Action::SelectPrevious),
        MouseEventKind::ScrollDown if in_services => Some(Action::SelectNext),
        _ => None,
    }
}
