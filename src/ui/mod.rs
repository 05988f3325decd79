//! The terminal UI (`reaper ui`, and `reaper up` on a terminal): services on the left, their
//! logs on the right.
//!
//! Shape (after gitui and bottom): one event channel fed by an input thread, a collection
//! thread ([`collect`]), worker threads ([`actions`]) and the supervisor ([`link`]); the loop
//! turns each event into an [`Action`], hands it to [`App::handle`] (pure, unit-tested), carries
//! out the [`Effect`] it returns, and draws with [`draw::draw`], which only reads the model. The
//! loop is generic over the ratatui backend, so tests draw into a `TestBackend`. Drawing is
//! coalesced to one frame per [`FRAME`]: a service printing faster than the screen can follow
//! costs frames, never lines (the keeper writes every line to disk whatever the UI does).
//!
//! [`link`]: crate::supervisor::link

pub mod actions;
pub mod collect;
pub mod draw;
pub mod keys;
pub mod model;
pub mod terminal;
#[cfg(test)]
mod tests;

use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use ratatui::Terminal;
use ratatui::backend::Backend;

use crate::signal::Signal;
use crate::state::StateDir;
use crate::supervisor::link::{Controller, FrontEnd, Request, StartFrontEnd};

pub use actions::{Actions, Starter};
pub use collect::Source;
pub use model::{Action, App, Effect, Mode, NewLine, Overview};

/// Shortest time between two frames.
pub const FRAME: Duration = Duration::from_millis(50);
/// Events handled between two frames at most, so a flood of lines cannot starve the keys.
const EVENTS_PER_FRAME: usize = 4096;
/// How often the input thread checks whether the UI has ended.
const INPUT_POLL: Duration = Duration::from_millis(100);

/// Everything the loop reacts to.
#[derive(Debug)]
pub enum Event {
    /// A key, mouse or resize event.
    Terminal(crossterm::event::Event),
    /// A look at the services (or why it failed).
    Overview(Result<Overview, String>),
    /// New log lines, oldest first.
    Lines(Vec<NewLine>),
    /// An action on `name` ended.
    ActionDone {
        /// The service.
        name: String,
        /// What happened, in words.
        message: String,
        /// Whether it worked.
        ok: bool,
    },
    /// One of the foreground supervisor's own lines.
    SupervisorLine(String),
    /// SIGTERM, SIGHUP or SIGINT reached `reaper ui`.
    Signal(Signal),
    /// The foreground supervisor takes the terminal back.
    Release,
}

/// Why the loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// The user quit (`q`, Ctrl-C).
    Quit,
    /// A signal asked `reaper ui` to end.
    Signal(Signal),
    /// The supervisor took the terminal back.
    Released,
    /// Every sender is gone.
    Disconnected,
}

/// Whether to draw in colour: not with `NO_COLOR` set (<https://no-color.org>) nor `TERM=dumb`.
pub fn color_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    let dumb = std::env::var_os("TERM").is_some_and(|t| t == "dumb");
    !no_color && !dumb
}

/// Handles one event; `Some` ends the loop.
fn on_event(app: &mut App, actions: &Actions, event: Event) -> Option<Ended> {
    match event {
        Event::Terminal(input) => {
            let action = keys::action_for(app, &input)?;
            match app.handle(action)? {
                Effect::Restart(name) => actions.restart(name),
                Effect::Stop(name) => actions.stop(name),
                Effect::Start(name) => actions.start(name),
                Effect::Quit => {
                    if actions.quit() {
                        return Some(Ended::Quit);
                    }
                }
            }
        }
        Event::Overview(Ok(overview)) => {
            if overview != app.overview || app.overview_error.is_some() {
                app.set_overview(overview);
            }
        }
        Event::Overview(Err(error)) => app.overview_error = Some(error),
        Event::Lines(lines) => app.push_lines(lines),
        Event::ActionDone { name, message, ok } => app.action_done(&name, message, ok),
        Event::SupervisorLine(text) => {
            actions.look_again();
            app.push_lines([NewLine {
                source: model::SUPERVISOR_SOURCE.to_string(),
                time: Some(SystemTime::now()),
                text: model::clean_text(&text),
                stderr: false,
            }]);
        }
        Event::Signal(signal) => return Some(Ended::Signal(signal)),
        Event::Release => return Some(Ended::Released),
    }
    None
}

/// Runs the UI until the user quits, a signal arrives, the supervisor takes the terminal back
/// or every sender is gone.
pub fn run_loop<B: Backend>(
    terminal: &mut Terminal<B>,
    app: &mut App,
    events: &Receiver<Event>,
    actions: &Actions,
) -> io::Result<Ended> {
    let mut dirty = true;
    let mut last_frame: Option<Instant> = None;
    loop {
        if dirty && last_frame.is_none_or(|at| at.elapsed() >= FRAME) {
            terminal.draw(|frame| draw::draw(app, frame))?;
            crate::fault::panic_point(crate::fault::UI_PANIC);
            last_frame = Some(Instant::now());
            dirty = false;
        }
        let wait = match (dirty, last_frame) {
            (true, Some(at)) => FRAME.saturating_sub(at.elapsed()),
            _ => Duration::from_secs(3600),
        };
        let first = match events.recv_timeout(wait) {
            Ok(event) => event,
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => return Ok(Ended::Disconnected),
        };
        for event in std::iter::once(first).chain(events.try_iter().take(EVENTS_PER_FRAME)) {
            if let Some(ended) = on_event(app, actions, event) {
                return Ok(ended);
            }
        }
        dirty = true;
    }
}

/// Forwards terminal events until `stop` is set or the loop is gone.
fn spawn_input(events: Sender<Event>, stop: Arc<AtomicBool>) -> io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("ui-input".to_string())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                match crossterm::event::poll(INPUT_POLL) {
                    Ok(false) => {}
                    Ok(true) => {
                        let sent = crossterm::event::read()
                            .is_ok_and(|event| events.send(Event::Terminal(event)).is_ok());
                        if !sent {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        })
}

/// Takes the terminal, runs the loop, and gives the terminal back (also on error and panic).
fn run_on_screen(
    mode: Mode,
    events_in: Sender<Event>,
    events: &Receiver<Event>,
    actions: &Actions,
    color: bool,
) -> io::Result<Ended> {
    let stop_input = Arc::new(AtomicBool::new(false));
    let mut screen = terminal::Screen::take()?;
    let input = spawn_input(events_in, stop_input.clone())?;
    let size = screen.terminal.size()?;
    let mut app = App::new(mode, (size.width, size.height), color);
    let ended = run_loop(&mut screen.terminal, &mut app, events, actions);
    stop_input.store(true, Ordering::SeqCst);
    drop(screen);
    let _ = input.join();
    ended
}

/// `reaper ui`: shows `source`'s services until the user quits or a signal arrives; the
/// services keep running either way. `supervisor_log`: a detached supervisor's own log.
pub fn attach(source: Source, supervisor_log: Option<PathBuf>, color: bool) -> io::Result<Ended> {
    let (sender, events) = mpsc::channel();
    let watch = crate::os::SignalWatch::new(&[Signal::Term, Signal::Hup, Signal::Int])?;
    let signals = sender.clone();
    std::thread::Builder::new()
        .name("ui-signals".to_string())
        .spawn(move || {
            loop {
                for signal in watch.wait(None) {
                    if signals.send(Event::Signal(signal)).is_err() {
                        return;
                    }
                }
            }
        })?;
    let state = source.state().clone();
    let hurry = collect::spawn(source, supervisor_log, sender.clone())?;
    let actions = Actions::new(state, Starter::Records, sender.clone(), hurry);
    run_on_screen(Mode::Attached, sender, &events, &actions, color)
}

/// The UI as `reaper up`'s front end.
struct UpFrontEnd {
    events: Sender<Event>,
    thread: Option<JoinHandle<()>>,
}

impl FrontEnd for UpFrontEnd {
    fn supervisor_line(&mut self, text: &str) {
        let _ = self.events.send(Event::SupervisorLine(text.to_string()));
    }

    fn release(&mut self) {
        let _ = self.events.send(Event::Release);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Asks the supervisor to stop the stack when dropped with a controller (the UI ended, or
/// panicked, before the supervisor took the terminal back).
struct InterruptUnlessReleased(Option<Controller>);

impl Drop for InterruptUnlessReleased {
    fn drop(&mut self) {
        if let Some(controller) = self.0.take() {
            controller.send(Request::Interrupt);
        }
    }
}

/// The UI for `reaper up` on a terminal: it shows the stack of `state` beside the supervisor,
/// sends `q`/Ctrl-C and `S` to it, and gives the terminal back when asked. If the UI cannot
/// run (no terminal after all, a panic), it asks the supervisor to stop the stack, as Ctrl-C
/// would, so the shutdown is printed on a normal screen instead of running unseen.
pub fn front_end(state: StateDir, color: bool) -> StartFrontEnd {
    Box::new(move |controller: Controller| {
        let (sender, events) = mpsc::channel();
        let loop_sender = sender.clone();
        let thread = std::thread::Builder::new()
            .name("ui".to_string())
            .spawn(move || {
                let mut unless_released = InterruptUnlessReleased(Some(controller.clone()));
                let ended = collect::spawn(Source::Stack(state.clone()), None, loop_sender.clone())
                    .and_then(|hurry| {
                        let starter = Starter::Supervisor(controller.clone());
                        let actions = Actions::new(state, starter, loop_sender.clone(), hurry);
                        run_on_screen(Mode::Foreground, loop_sender, &events, &actions, color)
                    });
                if matches!(ended, Ok(Ended::Released)) {
                    unless_released.0 = None;
                }
            })
            .ok();
        Box::new(UpFrontEnd {
            events: sender,
            thread,
        }) as Box<dyn FrontEnd>
    })
}
