//! Windows: foreground supervision (`reaper run`, `reaper up`). Console control events (Ctrl-C,
//! Ctrl-Break, the console window closing, log-off, shut-down) become the [`Signal`]s the
//! supervisors wait for, and the exit of a child they started wakes them as `SIGCHLD` would, so
//! the same loops run on every platform.
//!
//! One more way in: every reaper process that watches SIGTERM owns a named event
//! (`Local\reaper-term-PID`), and `Pinned::signal` sets it for a graceful signal. That is how
//! `reaper down` stops a stack's supervisor and `reaper stop` a `reaper run`, whatever consoles
//! they are in: console events only reach processes attached to the same console.
//!
//! Differences from Unix, by design of the platform: there are no zombies, so children are kept
//! (as `std::process::Child`) only to wait on them and read their exit codes; consoles have no
//! job control (no foreground process group, Ctrl-Z is a character), so the terminal functions
//! do nothing.

#![allow(unsafe_code)]

use std::io;
use std::os::windows::io::{AsRawHandle, FromRawHandle, OwnedHandle};
use std::os::windows::process::CommandExt;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use windows_sys::Win32::Foundation::{HANDLE, WAIT_OBJECT_0};
use windows_sys::Win32::System::Console::{
    CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT, CTRL_SHUTDOWN_EVENT,
    GetConsoleMode, GetStdHandle, STD_INPUT_HANDLE, SetConsoleCtrlHandler,
};
use windows_sys::Win32::System::Threading::{
    CREATE_NEW_PROCESS_GROUP, CreateEventW, EVENT_MODIFY_STATE, INFINITE, OpenEventW, ResetEvent,
    SetEvent, WaitForMultipleObjects,
};
use windows_sys::core::BOOL;

use super::platform::MAXIMUM_WAIT_OBJECTS;
use super::{ChildEvent, StdinTerminal};
use crate::process::Pid;
use crate::signal::Signal;

/// The exit code of a process ended by Ctrl-C or Ctrl-Break (`STATUS_CONTROL_C_EXIT`): reported
/// as death by SIGINT, so `reaper run` exits 130 for it as it does on Unix.
const STATUS_CONTROL_C_EXIT: u32 = 0xC000_013A;

/// How long a console-closing, log-off or shut-down event is held: Windows ends the process as
/// soon as the handler returns, so it waits while the supervisor stops the tree and exits (the
/// system gives up after about 5 s; the job object ends what is left when reaper is gone).
const CLOSE_HOLD: Duration = Duration::from_secs(30);

/// Console events as signals: Ctrl-C is SIGINT; Ctrl-Break is what reaper sends for a graceful
/// stop (see `Pinned::signal_group`), so it reads as SIGTERM; the console closing, log-off and
/// shut-down end the session, as SIGHUP does.
fn signal_of(event: u32) -> Option<Signal> {
    match event {
        CTRL_C_EVENT => Some(Signal::Int),
        CTRL_BREAK_EVENT => Some(Signal::Term),
        CTRL_CLOSE_EVENT | CTRL_LOGOFF_EVENT | CTRL_SHUTDOWN_EVENT => Some(Signal::Hup),
        _ => None,
    }
}

/// Name of the event that asks reaper process `pid` to stop (see the module documentation).
pub(super) fn stop_event_name(pid: Pid) -> Vec<u16> {
    format!("Local\\reaper-term-{pid}")
        .encode_utf16()
        .chain(std::iter::once(0))
        .collect()
}

/// Asks reaper process `pid` to stop, if it watches SIGTERM (a no-op for any other process).
/// Returns whether the request was delivered.
pub(super) fn request_stop(pid: Pid) -> bool {
    let name = stop_event_name(pid);
    // SAFETY: the name is NUL-terminated and outlives the call; the result is checked.
    let raw = unsafe { OpenEventW(EVENT_MODIFY_STATE, 0, name.as_ptr()) };
    if raw.is_null() {
        return false;
    }
    // SAFETY: `raw` is a fresh, valid handle owned by the OwnedHandle from here on.
    let event = unsafe { OwnedHandle::from_raw_handle(raw) };
    // SAFETY: the handle is valid and has EVENT_MODIFY_STATE access.
    unsafe { SetEvent(event.as_raw_handle() as HANDLE) != 0 }
}

/// What the console handler (which runs on a thread the system creates) shares with the
/// supervisor's thread.
struct Shared {
    deliveries: Mutex<Deliveries>,
    /// Manual-reset event, set when something is delivered or a [`Waker`] wakes the waiter;
    /// reset under the `deliveries` lock by the waiter, so no delivery is missed.
    wake: OwnedHandle,
}

#[derive(Default)]
struct Deliveries {
    watched: Vec<Signal>,
    pending: Vec<Signal>,
}

static SHARED: OnceLock<Shared> = OnceLock::new();

/// Children handed over with [`adopt_child`], until [`reap_child_nonblocking`] reports them.
static CHILDREN: Mutex<Vec<std::process::Child>> = Mutex::new(Vec::new());

fn children() -> MutexGuard<'static, Vec<std::process::Child>> {
    // A panic while holding the lock leaves the list itself intact.
    CHILDREN
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn shared() -> io::Result<&'static Shared> {
    if let Some(shared) = SHARED.get() {
        return Ok(shared);
    }
    // SAFETY: no security attributes and no name; manual reset, initially unset. The handle is
    // owned by the OwnedHandle from here on.
    let raw = unsafe { CreateEventW(std::ptr::null(), 1, 0, std::ptr::null()) };
    if raw.is_null() {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a fresh, valid handle that nothing else owns.
    let wake = unsafe { OwnedHandle::from_raw_handle(raw) };
    Ok(SHARED.get_or_init(|| Shared {
        deliveries: Mutex::new(Deliveries::default()),
        wake,
    }))
}

impl Shared {
    fn deliveries(&self) -> MutexGuard<'_, Deliveries> {
        self.deliveries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn wake(&self) {
        // SAFETY: the event handle is valid for the program's life (it lives in a static).
        unsafe { SetEvent(self.wake.as_raw_handle() as HANDLE) };
    }
}

/// The console control handler: queues watched events for [`SignalWatch::wait`] and reports
/// them handled; others fall through to the next handler (the default one ends the process).
unsafe extern "system" fn on_console_event(event: u32) -> BOOL {
    let (Some(shared), Some(signal)) = (SHARED.get(), signal_of(event)) else {
        return 0;
    };
    {
        let mut deliveries = shared.deliveries();
        if !deliveries.watched.contains(&signal) {
            return 0;
        }
        deliveries.pending.push(signal);
        shared.wake();
    }
    if event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT {
        std::thread::sleep(CLOSE_HOLD);
    }
    1
}

/// Console control events delivered to this process, as [`Signal`]s a loop can wait for with a
/// timeout, together with the exit of children handed over with [`adopt_child`] (reported as
/// `SIGCHLD` when it is watched). Without a console, no event comes; waiting still works.
#[derive(Debug)]
pub struct SignalWatch {
    shared: &'static Shared,
    /// The named stop event, when SIGTERM is watched (auto-reset: one request, one delivery).
    stop_requests: Option<OwnedHandle>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Shared")
    }
}

/// Wakes a [`SignalWatch::wait`] from another thread.
#[derive(Debug, Clone)]
pub struct Waker(&'static Shared);

impl Waker {
    /// Makes the current or next [`SignalWatch::wait`] return.
    pub fn wake(&self) {
        self.0.wake();
    }
}

impl SignalWatch {
    /// Installs the console handler for `signals` (SIGINT: Ctrl-C; SIGTERM: Ctrl-Break; SIGHUP:
    /// console closed, log-off, shut-down; SIGCHLD: a child's exit). From now on these events
    /// no longer end the process; they are reported instead. Signals Windows cannot deliver are
    /// accepted and never reported.
    pub fn new(signals: &[Signal]) -> io::Result<SignalWatch> {
        let shared = shared()?;
        {
            let mut deliveries = shared.deliveries();
            deliveries.watched = signals.to_vec();
            deliveries.pending.clear();
        }
        // A process without a console gets no console events, and the call may fail then:
        // nothing is lost, so that is not an error.
        // SAFETY: the handler is a plain function that lives for the whole program.
        unsafe { SetConsoleCtrlHandler(Some(on_console_event), 1) };
        let stop_requests = if signals.contains(&Signal::Term) {
            let name = stop_event_name(std::process::id());
            // SAFETY: default security, auto-reset, initially unset; the name outlives the call.
            let raw = unsafe { CreateEventW(std::ptr::null(), 0, 0, name.as_ptr()) };
            if raw.is_null() {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `raw` is a fresh, valid handle that nothing else owns.
            Some(unsafe { OwnedHandle::from_raw_handle(raw) })
        } else {
            None
        };
        Ok(SignalWatch {
            shared,
            stop_requests,
        })
    }

    /// A handle that wakes [`SignalWatch::wait`] from another thread.
    pub fn waker(&self) -> Waker {
        Waker(self.shared)
    }

    /// Waits until a watched event arrives, an adopted child exits, a [`Waker`] wakes us, or
    /// `timeout` passes (`None`: no limit). Returns the signals delivered since the last call,
    /// in order, with `SIGCHLD` last when an adopted child has exited and is not yet reported by
    /// [`reap_child_nonblocking`] (so call that before waiting again).
    pub fn wait(&self, timeout: Option<Duration>) -> Vec<Signal> {
        let mut handles: Vec<HANDLE> = vec![self.shared.wake.as_raw_handle() as HANDLE];
        handles.extend(
            self.stop_requests
                .iter()
                .map(|event| event.as_raw_handle() as HANDLE),
        );
        let first_child = handles.len() as u32;
        handles.extend(
            children()
                .iter()
                .take(MAXIMUM_WAIT_OBJECTS - handles.len())
                .map(|child| child.as_raw_handle() as HANDLE),
        );
        let millis = timeout.map_or(INFINITE, |t| {
            u32::try_from(t.as_millis()).unwrap_or(INFINITE - 1)
        });
        // SAFETY: every handle is valid during the call: the wake-up event lives in a static,
        // the stop event in `self`, and a child's handle is only closed once it is removed from
        // CHILDREN, which happens on this thread (reap_child_nonblocking), not during the wait.
        let woke =
            unsafe { WaitForMultipleObjects(handles.len() as u32, handles.as_ptr(), 0, millis) }
                .wrapping_sub(WAIT_OBJECT_0);
        let mut deliveries = self.shared.deliveries();
        let mut delivered = std::mem::take(&mut deliveries.pending);
        // SAFETY: as above; reset under the lock the handler sets it under.
        unsafe { ResetEvent(self.shared.wake.as_raw_handle() as HANDLE) };
        // Waking on the stop event consumed it (auto-reset).
        if self.stop_requests.is_some() && woke == 1 {
            delivered.push(Signal::Term);
        }
        if (first_child..handles.len() as u32).contains(&woke)
            && deliveries.watched.contains(&Signal::Chld)
        {
            delivered.push(Signal::Chld);
        }
        delivered
    }
}

impl Drop for SignalWatch {
    fn drop(&mut self) {
        self.shared.deliveries().watched.clear();
        // SAFETY: removes the handler added in `new`; harmless if it was never added.
        unsafe { SetConsoleCtrlHandler(Some(on_console_event), 0) };
    }
}

/// Hands a spawned child to the supervisor's bookkeeping: it is kept so that
/// [`SignalWatch::wait`] wakes when it exits and [`reap_child_nonblocking`] reports its exit
/// code. (Windows has no `waitpid(-1)`: a process's exit is learned from its handle.)
pub fn adopt_child(child: std::process::Child) {
    children().push(child);
}

/// Reports one adopted child that has exited, without blocking. Windows has no zombies:
/// nothing else needs reaping, and children that were not adopted are not reported.
pub fn reap_child_nonblocking() -> ChildEvent {
    let mut children = children();
    if children.is_empty() {
        return ChildEvent::NoChildren;
    }
    for index in 0..children.len() {
        let status = match children[index].try_wait() {
            Ok(Some(status)) => status.code(),
            Ok(None) => continue,
            // The handle cannot be queried: report the child ended with no known status rather
            // than wait on it forever.
            Err(_) => None,
        };
        let mut child = children.swap_remove(index);
        // It has exited: this returns at once (and closes nothing; the handle closes on drop).
        let _ = child.wait();
        let (code, signal) = match status {
            Some(code) if code as u32 == STATUS_CONTROL_C_EXIT => (None, Some(2)),
            code => (code, None),
        };
        return ChildEvent::Exited {
            pid: child.id() as Pid,
            code,
            signal,
        };
    }
    ChildEvent::NothingReady
}

/// Whether standard input is a console. Consoles have no foreground process group: a command
/// reaper starts in one shares it and gets its Ctrl-C through reaper (see
/// [`spawn_in_new_group`]), so this is never [`StdinTerminal::Background`].
pub fn stdin_terminal() -> StdinTerminal {
    let mut mode = 0;
    // SAFETY: GetStdHandle returns a borrowed handle (or null/invalid, which GetConsoleMode
    // rejects); `mode` is a live out-pointer.
    let console = unsafe { GetConsoleMode(GetStdHandle(STD_INPUT_HANDLE), &mut mode) } != 0;
    if console {
        StdinTerminal::Foreground
    } else {
        StdinTerminal::NotATerminal
    }
}

/// Consoles have no foreground process group.
pub fn terminal_foreground_group() -> Option<Pid> {
    None
}

/// The calling process's pid (Windows process groups are named by their first process).
pub fn own_process_group() -> Pid {
    std::process::id()
}

/// Consoles have no foreground process group to hand over: nothing to do.
pub fn give_terminal_to(_group: Pid) -> io::Result<()> {
    Ok(())
}

/// Arranges for `command`'s child to lead a new process group in reaper's console: it writes to
/// the same console, but keyboard Ctrl-C is no longer delivered to it (Windows disables it in a
/// new group) — reaper receives it and passes it on as Ctrl-Break to the group, which, unlike
/// Ctrl-C, can be aimed at one group without reaching the shell that shares the console.
pub fn spawn_in_new_group(command: &mut std::process::Command, _take_terminal: bool) {
    command.creation_flags(CREATE_NEW_PROCESS_GROUP);
}

/// Windows has no job-control stop: nothing to do.
pub fn stop_self() {}

/// Ends the calling process at once, as `TerminateProcess` from outside would: no destructor,
/// no flush, no exit handler runs (the testing-only fault points of `REAPER_FAULT`).
pub fn kill_self() -> ! {
    std::process::abort()
}
