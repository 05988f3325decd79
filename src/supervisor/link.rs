//! The link between `reaper up`'s supervisor and a front end that runs beside it in the same
//! process (the terminal UI): the front end sends [`Request`]s through a [`Controller`]; the
//! supervisor hands it its own lines while the front end owns the terminal, and asks for the
//! terminal back ([`FrontEnd::release`]) before it prints the shutdown.
//!
//! Actions on one service (restart, stop) go through the same library calls and locks as the CLI
//! (`reaper restart`, `reaper stop`); the supervisor sees their effect as it sees the CLI's. Only
//! what the CLI cannot say to a foreground supervisor travels here.

use std::sync::mpsc;

use crate::os::Waker;

/// What a front end asks of the supervisor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    /// As Ctrl-C: the first stops the stack in reverse dependency order, a second forces it.
    Interrupt,
    /// Start this service again after it was stopped or ended: its dependencies' ports, its
    /// readiness check and its restart policy apply as at start-up.
    Start(String),
}

/// The front end's handle on the supervisor (cheap to clone, usable from any thread).
#[derive(Clone)]
pub struct Controller {
    requests: mpsc::Sender<Request>,
    waker: Waker,
}

impl Controller {
    /// A controller whose requests arrive on the receiver paired with `requests`; `waker` makes
    /// the supervisor's loop look at them at once.
    pub fn new(requests: mpsc::Sender<Request>, waker: Waker) -> Controller {
        Controller { requests, waker }
    }

    /// Sends `request`; false once the supervisor is gone.
    pub fn send(&self, request: Request) -> bool {
        let sent = self.requests.send(request).is_ok();
        self.waker.wake();
        sent
    }
}

/// A front end as the supervisor sees it.
pub trait FrontEnd: Send {
    /// One line of the supervisor's own (what it would print as `reaper | …`), shown by the front
    /// end instead of printed.
    fn supervisor_line(&mut self, text: &str);
    /// The stack is stopping (Ctrl-C, a signal, a failure, every service ended, or the front end's
    /// own [`Request::Interrupt`]): restore the terminal and return once it is restored, so the
    /// shutdown is printed on a normal screen. Called once; the front end ends.
    fn release(&mut self);
}

/// Starts a front end once the supervisor is set up, given the controller it sends requests
/// through.
pub type StartFrontEnd = Box<dyn FnOnce(Controller) -> Box<dyn FrontEnd>>;
