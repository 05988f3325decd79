//! Desktop notifications on Windows: a toast in the Action Center through the WinRT
//! `ToastNotificationManager`, via `tauri-winrt-notification`.
//!
//! An unpackaged command-line program has no AppUserModelID of its own, and Windows shows toasts
//! only for registered ones; like most command-line tools, reaper posts them under PowerShell's,
//! which every Windows install registers. Where WinRT is missing (Server Core, wine) the first
//! toast fails and `watch` says so once.

use tauri_winrt_notification::{Duration, Toast};

use super::NotifyError;

/// The toast sender; WinRT is reached per toast, there is no connection to keep.
#[derive(Debug)]
pub struct Notifier {
    _private: (),
}

impl Notifier {
    /// Always succeeds: whether toasts can be shown is known at the first [`Notifier::send`].
    pub fn connect() -> Result<Notifier, NotifyError> {
        Ok(Notifier { _private: () })
    }

    /// Shows one short toast: `summary` as its title, `body` as its text.
    pub fn send(&self, summary: &str, body: &str) -> Result<(), NotifyError> {
        Toast::new(Toast::POWERSHELL_APP_ID)
            .title(summary)
            .text1(body)
            .duration(Duration::Short)
            .show()
            .map_err(|e| NotifyError::NotShown(e.to_string()))
    }
}
