//! Desktop notifications on Linux: the freedesktop `org.freedesktop.Notifications.Notify` call
//! on the D-Bus session bus (what `notify-send` does), through zbus.

use std::collections::HashMap;
use std::time::Duration;

use zbus::blocking::connection::Builder;
use zbus::zvariant::Value;

use super::NotifyError;

const SERVICE: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";
/// How long a notification service gets to answer: a bus without one (a headless session, a
/// CI container) must not hold a scan up.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection to the session bus, to show notifications on.
#[derive(Debug)]
pub struct Notifier {
    connection: zbus::blocking::Connection,
}

impl Notifier {
    /// Connects to the session bus named by `DBUS_SESSION_BUS_ADDRESS` (or the user's default).
    pub fn connect() -> Result<Notifier, NotifyError> {
        let connection = Builder::session()
            .map(|builder| builder.method_timeout(REPLY_TIMEOUT))
            .and_then(Builder::build)
            .map_err(|e| NotifyError::NoBus(e.to_string()))?;
        Ok(Notifier { connection })
    }

    /// Shows one notification, as app `reaper`, with the service's default expiry.
    pub fn send(&self, summary: &str, body: &str) -> Result<(), NotifyError> {
        let actions: Vec<&str> = Vec::new();
        let hints: HashMap<&str, Value<'_>> = HashMap::new();
        self.connection
            .call_method(
                Some(SERVICE),
                PATH,
                Some(SERVICE),
                "Notify",
                &("reaper", 0u32, "", summary, body, actions, hints, -1i32),
            )
            .map(drop)
            .map_err(|e| NotifyError::NoService(e.to_string()))
    }
}
