//! The model, the keys and the drawing, without a terminal: actions on an [`App`] built in
//! memory, and snapshots of what [`draw::draw`] puts into a ratatui `TestBackend`.

use std::time::{Duration, SystemTime};

use crossterm::event::{
    Event as TermEvent, KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind,
};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::Color;

use super::draw;
use super::keys::{self, action_for};
use super::model::*;

fn row(name: &str, state: &str, pid: Option<u32>) -> ServiceRow {
    ServiceRow {
        name: name.to_string(),
        state: state.to_string(),
        health: pid.map(|_| "healthy".to_string()),
        pid,
        uptime_secs: pid.map(|_| 75),
        restarts: 1,
        cpu_percent: pid.map(|_| 0.5),
        rss_bytes: pid.map(|_| 14 * 1024 * 1024),
        ports: pid
            .map(|p| vec![u16::try_from(p % 60_000).unwrap_or(0)])
            .unwrap_or_default(),
        containment: Some("cgroup"),
        log: None,
    }
}

fn line(source: &str, text: &str) -> NewLine {
    NewLine {
        source: source.to_string(),
        time: Some(SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)),
        text: text.to_string(),
        stderr: false,
    }
}

/// A stack of three services with a few lines each.
fn app(size: (u16, u16), color: bool) -> App {
    let mut app = App::new(Mode::Attached, size, color);
    app.set_overview(Overview {
        headline: "stack running: supervisor pid 4242 (detached)".to_string(),
        services: vec![
            row("db", "ready", Some(8001)),
            row("api", "starting", Some(8002)),
            row("worker", "crashed", None),
        ],
    });
    app.push_lines((0..30).map(|i| {
        let source = ["db", "api", "worker"][i % 3];
        line(source, &format!("line {i} from {source}"))
    }));
    app
}

fn key(code: KeyCode) -> TermEvent {
    TermEvent::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

fn press(app: &mut App, code: KeyCode) -> Option<Effect> {
    let action = action_for(app, &key(code))?;
    app.handle(action)
}

fn render(app: &App) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(app.size.0, app.size.1)).unwrap();
    terminal.draw(|frame| draw::draw(app, frame)).unwrap();
    terminal
}

fn screen_text(terminal: &Terminal<TestBackend>) -> String {
    let buffer = terminal.backend().buffer();
    (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol())
                .collect::<String>()
                .trim_end()
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn j_and_k_move_the_selection_within_the_list() {
    let mut app = app((100, 24), true);
    assert_eq!(press(&mut app, KeyCode::Char('k')), None);
    assert_eq!(app.selected, 0);
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Down);
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(app.selected, 2, "stops at the last service");
    press(&mut app, KeyCode::Up);
    assert_eq!(app.selected_service().unwrap().name, "api");
}

#[test]
fn the_selection_stays_on_its_service_when_the_list_changes() {
    let mut app = app((100, 24), true);
    press(&mut app, KeyCode::Char('j'));
    app.set_overview(Overview {
        headline: String::new(),
        services: vec![row("api", "ready", Some(1)), row("db", "ready", Some(2))],
    });
    assert_eq!(app.selected_service().unwrap().name, "api");
}

#[test]
fn a_service_whose_record_went_away_stays_listed_as_stopped() {
    let mut app = app((100, 24), true);
    press(&mut app, KeyCode::Char('j'));
    app.set_overview(Overview {
        headline: String::new(),
        services: vec![row("db", "ready", Some(1)), row("worker", "crashed", None)],
    });
    let names: Vec<&str> = app
        .overview
        .services
        .iter()
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(names, ["db", "api", "worker"]);
    let api = app.selected_service().unwrap();
    assert_eq!(
        (api.name.as_str(), api.state.as_str(), api.pid),
        ("api", "stopped", None)
    );
}

#[test]
fn r_s_and_shift_s_act_on_the_selected_service_once_at_a_time() {
    let mut app = app((100, 24), true);
    press(&mut app, KeyCode::Char('j'));
    assert_eq!(
        press(&mut app, KeyCode::Char('r')),
        Some(Effect::Restart("api".to_string()))
    );
    assert_eq!(press(&mut app, KeyCode::Char('s')), None, "api is busy");
    assert!(
        app.status
            .as_ref()
            .unwrap()
            .0
            .contains("already restarting")
    );
    app.action_done("api", "restarted api".to_string(), true);
    assert_eq!(
        press(&mut app, KeyCode::Char('s')),
        Some(Effect::Stop("api".to_string()))
    );
    app.action_done("api", "stopped api".to_string(), true);
    assert_eq!(
        press(&mut app, KeyCode::Char('S')),
        Some(Effect::Start("api".to_string()))
    );
}

#[test]
fn q_and_ctrl_c_quit_and_in_up_mode_say_the_stack_stops() {
    let mut attached = app((100, 24), true);
    assert_eq!(press(&mut attached, KeyCode::Char('q')), Some(Effect::Quit));
    assert!(!attached.quitting);
    let mut foreground = app((100, 24), true);
    foreground.mode = Mode::Foreground;
    let ctrl_c = TermEvent::Key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL));
    let action = action_for(&foreground, &ctrl_c).unwrap();
    assert_eq!(foreground.handle(action), Some(Effect::Quit));
    assert!(foreground.quitting);
}

#[test]
fn enter_shows_the_selection_and_a_shows_all() {
    let mut app = app((100, 24), true);
    press(&mut app, KeyCode::Char('j'));
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.view, LogView::Service("api".to_string()));
    assert!(app.visible_lines().all(|l| l.source == "api"));
    assert_eq!(app.visible_lines().count(), 10);
    press(&mut app, KeyCode::Char('a'));
    assert_eq!(app.view, LogView::All);
    assert_eq!(app.visible_lines().count(), 30);
}

#[test]
fn scrolling_pauses_follow_and_reaching_the_end_follows_again() {
    let mut app = app((100, 24), true);
    assert!(app.following());
    press(&mut app, KeyCode::PageUp);
    let paused = app.bottom.expect("scrolled up");
    assert!(paused < 29);
    app.push_lines([line("db", "new")]);
    assert_eq!(
        app.bottom,
        Some(paused),
        "new lines do not move a paused view"
    );
    press(&mut app, KeyCode::PageDown);
    press(&mut app, KeyCode::PageDown);
    assert!(app.following());
    press(&mut app, KeyCode::Char('f'));
    assert_eq!(app.bottom, Some(30), "f pauses on the newest line");
    press(&mut app, KeyCode::Char('f'));
    assert!(app.following());
}

#[test]
fn search_jumps_between_matches_with_n_and_shift_n() {
    let mut app = app((100, 24), true);
    press(&mut app, KeyCode::Char('/'));
    for c in "FROM WORKER".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    assert_eq!(app.search.as_deref(), Some("FROM WORKER"));
    assert_eq!(app.bottom, Some(29), "the newest match, case ignored");
    press(&mut app, KeyCode::Char('N'));
    assert_eq!(app.bottom, Some(26));
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.bottom, Some(29));
    press(&mut app, KeyCode::Char('n'));
    assert_eq!(app.bottom, Some(29), "no later match: stays");
    assert!(app.status.as_ref().unwrap().0.contains("no more matches"));
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.search, None);
}

#[test]
fn a_filter_hides_lines_that_do_not_match() {
    let mut app = app((100, 24), true);
    press(&mut app, KeyCode::Char('&'));
    for c in "line 1".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Char('2'));
    press(&mut app, KeyCode::Enter);
    let shown: Vec<&str> = app.visible_lines().map(|l| l.text.as_str()).collect();
    assert_eq!(
        shown,
        [
            "line 2 from worker",
            "line 20 from worker",
            "line 21 from db",
            "line 22 from api",
            "line 23 from worker",
            "line 24 from db",
            "line 25 from api",
            "line 26 from worker",
            "line 27 from db",
            "line 28 from api",
            "line 29 from worker"
        ]
    );
}

#[test]
fn keys_typed_into_a_prompt_are_text_not_commands() {
    let mut app = app((100, 24), true);
    press(&mut app, KeyCode::Char('/'));
    assert_eq!(press(&mut app, KeyCode::Char('q')), None);
    assert_eq!(press(&mut app, KeyCode::Char('r')), None);
    assert_eq!(app.input.as_ref().unwrap().text, "qr");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.input, None);
    assert_eq!(app.search, None);
}

#[test]
fn memory_holds_at_most_max_lines_and_positions_survive_eviction() {
    let mut app = app((100, 24), true);
    press(&mut app, KeyCode::Char('f'));
    let paused = app.bottom.unwrap();
    app.push_lines((0..MAX_LINES + 10).map(|i| line("db", &i.to_string())));
    assert_eq!(app.lines.len(), MAX_LINES);
    assert_eq!(app.bottom, Some(paused));
    press(&mut app, KeyCode::Char('g'));
    assert!(app.bottom.unwrap() > paused, "top is the oldest line kept");
}

#[test]
fn a_click_selects_the_row_and_the_wheel_scrolls_the_log() {
    let mut app = app((100, 24), true);
    let panes = keys::app_layout(&app);
    let click = TermEvent::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column: panes.services.x + 3,
        row: panes.services.y + 4,
        modifiers: KeyModifiers::NONE,
    });
    let action = action_for(&app, &click).unwrap();
    app.handle(action);
    assert_eq!(app.selected_service().unwrap().name, "worker");
    let wheel = TermEvent::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollUp,
        column: panes.log.x + 3,
        row: panes.log.y + 3,
        modifiers: KeyModifiers::NONE,
    });
    let action = action_for(&app, &wheel).unwrap();
    app.handle(action);
    assert_eq!(app.bottom, Some(26));
}

#[test]
fn control_characters_and_colour_codes_never_reach_the_screen() {
    assert_eq!(clean_text("\u{1b}[32mok\u{1b}[0m\tdone\r"), "ok    done\\r");
    assert_eq!(clean_text("bell\u{7}"), "bell");
}

#[test]
fn matches_ignore_ascii_case_and_respect_char_boundaries() {
    assert_eq!(matches("Error error", "ERROR"), [(0, 5), (6, 11)]);
    assert_eq!(matches("é", "x"), []);
    assert_eq!(matches("abc", ""), []);
}

#[test]
fn snapshot_normal_size() {
    let app = app((100, 24), true);
    insta::assert_snapshot!(screen_text(&render(&app)));
}

#[test]
fn snapshot_wide_terminal_shows_every_column() {
    let mut app = app((150, 12), true);
    app.timestamps = true;
    app.push_lines([NewLine {
        time: None,
        ..line("worker", "a line from a log without an index")
    }]);
    // The time of day depends on the local time zone.
    insta::with_settings!({filters => vec![(r"\d\d:\d\d:\d\d\.\d\d\d", "[hh:mm:ss.mmm]")]}, {
        insta::assert_snapshot!(screen_text(&render(&app)));
    });
}

#[test]
fn snapshot_tiny_terminal() {
    let mut app = app((40, 10), true);
    app.wrap = true;
    insta::assert_snapshot!(screen_text(&render(&app)));
}

#[test]
fn snapshot_help_overlay() {
    let mut app = app((100, 24), true);
    press(&mut app, KeyCode::Char('?'));
    insta::assert_snapshot!(screen_text(&render(&app)));
}

#[test]
fn snapshot_search_highlight() {
    let mut app = app((100, 24), true);
    press(&mut app, KeyCode::Char('/'));
    for c in "from api".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    let terminal = render(&app);
    insta::assert_snapshot!(screen_text(&terminal));
    let buffer = terminal.backend().buffer();
    let highlighted: String = buffer
        .content()
        .iter()
        .filter(|cell| cell.bg == Color::Yellow)
        .map(|cell| cell.symbol())
        .collect();
    assert!(highlighted.starts_with("from api"), "{highlighted}");
    assert_eq!(highlighted.len() % "from api".len(), 0);
}

#[test]
fn snapshot_no_color_uses_no_colour_at_all() {
    let mut app = app((100, 24), false);
    press(&mut app, KeyCode::Char('/'));
    for c in "from db".chars() {
        press(&mut app, KeyCode::Char(c));
    }
    press(&mut app, KeyCode::Enter);
    let terminal = render(&app);
    insta::assert_snapshot!(screen_text(&terminal));
    let buffer = terminal.backend().buffer();
    assert!(
        buffer
            .content()
            .iter()
            .all(|cell| cell.fg == Color::Reset && cell.bg == Color::Reset),
        "a colour was drawn with NO_COLOR"
    );
    let reversed = buffer
        .content()
        .iter()
        .filter(|c| c.modifier.contains(ratatui::style::Modifier::REVERSED))
        .count();
    assert!(reversed > 0, "matches and the selection are still marked");
}

#[test]
fn every_size_down_to_one_cell_draws_without_panic() {
    for (columns, rows) in [(1, 1), (10, 3), (40, 10), (79, 12), (200, 60)] {
        let mut app = app((columns, rows), true);
        app.wrap = true;
        app.help = true;
        app.timestamps = true;
        app.push_lines([line("api", "wide 漢字 and invalid \u{fffd} bytes")]);
        render(&app);
    }
}
