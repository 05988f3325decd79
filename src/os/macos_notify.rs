//! Desktop notifications on macOS: Notification Center, through `osascript`'s
//! `display notification`.
//!
//! Why a subprocess: `UNUserNotificationCenter` refuses a process without an app bundle (a
//! command-line binary has none), and the crate wrapping the older `NSUserNotification`
//! compiles Objective-C at build time, which would tie every build to Apple's compiler. The
//! subprocess follows reaper's own rules: the text travels as arguments (never spliced into
//! the script), and it has a time limit after which it is killed and reaped.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::NotifyError;

const OSASCRIPT: &str = "/usr/bin/osascript";
/// How long one notification may take; a stuck `osascript` must not hold a scan up.
const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// Posts notifications through `/usr/bin/osascript`.
#[derive(Debug)]
pub struct Notifier {
    _private: (),
}

impl Notifier {
    /// Checks that `osascript` is there (it is on every macOS install, but not in a sandbox).
    pub fn connect() -> Result<Notifier, NotifyError> {
        if Path::new(OSASCRIPT).is_file() {
            Ok(Notifier { _private: () })
        } else {
            Err(NotifyError::NotShown(format!("{OSASCRIPT} is missing")))
        }
    }

    /// Shows one notification: `summary` as its title, `body` as its text.
    pub fn send(&self, summary: &str, body: &str) -> Result<(), NotifyError> {
        let child = Command::new(OSASCRIPT)
            .args([
                "-e",
                "on run argv",
                "-e",
                "display notification (item 2 of argv) with title (item 1 of argv)",
                "-e",
                "end run",
                summary,
                body,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| NotifyError::NotShown(format!("cannot run {OSASCRIPT}: {e}")))?;
        wait_bounded(child)
    }
}

/// Waits for `osascript` at most [`SEND_TIMEOUT`]; kills it past that. The child is ours and
/// not yet reaped, so its pid cannot have been reused when it is killed.
fn wait_bounded(mut child: Child) -> Result<(), NotifyError> {
    let deadline = Instant::now() + SEND_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                let mut stderr = String::new();
                if let Some(mut pipe) = child.stderr.take() {
                    let _ = pipe.read_to_string(&mut stderr);
                }
                return Err(NotifyError::NotShown(format!(
                    "osascript failed ({status}): {}",
                    stderr.trim()
                )));
            }
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(NotifyError::NotShown(format!(
                    "osascript did not finish within {}s",
                    SEND_TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(NotifyError::NotShown(format!("waiting for osascript: {e}"))),
        }
    }
}
