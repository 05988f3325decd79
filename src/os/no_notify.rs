//! Desktop notifications where reaper has none (macOS, Windows): [`Notifier::connect`] says so.

use super::NotifyError;

/// A connection to the desktop's notification service; never made here.
#[derive(Debug)]
pub struct Notifier {
    _never: (),
}

impl Notifier {
    /// Always [`NotifyError::Unsupported`].
    pub fn connect() -> Result<Notifier, NotifyError> {
        Err(NotifyError::Unsupported)
    }

    /// Never called: there is no notifier to call it on.
    pub fn send(&self, _summary: &str, _body: &str) -> Result<(), NotifyError> {
        Err(NotifyError::Unsupported)
    }
}
