//! Taking the terminal (raw mode, alternate screen, mouse) and always giving it back: on return,
//! on a panic (a hook restores it before the message is printed) and on SIGTERM/SIGHUP (the
//! loop ends and the guard drops). Meanwhile slow stops are not shown on stderr (their lines
//! would run through the screen): the UI's status line says what a stop does.

use std::io::{self, Stdout};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Once};

use crossterm::cursor::{Hide, Show};
use crossterm::event::{DisableMouseCapture, EnableMouseCapture};
use crossterm::execute;
use crossterm::terminal::{
    EnterAlternateScreen, LeaveAlternateScreen, disable_raw_mode, enable_raw_mode,
};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;

use crate::terminate::{self, StopObserver};

/// Whether this process holds the terminal in the UI's modes.
static TAKEN: AtomicBool = AtomicBool::new(false);
static PANIC_HOOK: Once = Once::new();
/// The stop observer set aside while the UI holds the terminal.
static SET_ASIDE: Mutex<Option<Arc<dyn StopObserver>>> = Mutex::new(None);

/// The terminal while the UI holds it; dropping it restores the terminal.
pub struct Screen {
    /// The ratatui terminal drawing to stdout.
    pub terminal: Terminal<CrosstermBackend<Stdout>>,
}

impl Screen {
    /// Takes the terminal on stdout.
    pub fn take() -> io::Result<Screen> {
        PANIC_HOOK.call_once(|| {
            let previous = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                restore();
                previous(info);
            }));
        });
        if !TAKEN.swap(true, Ordering::SeqCst) {
            *set_aside() = terminate::set_observer(None);
        }
        let taken = enable_raw_mode()
            .and_then(|()| execute!(io::stdout(), EnterAlternateScreen, EnableMouseCapture, Hide))
            .and_then(|()| Terminal::new(CrosstermBackend::new(io::stdout())));
        match taken {
            Ok(terminal) => Ok(Screen { terminal }),
            Err(e) => {
                restore();
                Err(e)
            }
        }
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Gives the terminal back as it was (once; later calls do nothing).
pub fn restore() {
    if TAKEN.swap(false, Ordering::SeqCst) {
        let _ = execute!(
            io::stdout(),
            DisableMouseCapture,
            LeaveAlternateScreen,
            Show
        );
        let _ = disable_raw_mode();
        terminate::set_observer(set_aside().take());
    }
}

fn set_aside() -> std::sync::MutexGuard<'static, Option<Arc<dyn StopObserver>>> {
    SET_ASIDE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}
