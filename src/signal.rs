//! Platform-neutral signal names, parsed from what users type (`TERM`, `SIGTERM`, `15`).

use std::fmt;
use std::str::FromStr;

/// A signal reaper can send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signal {
    /// SIGHUP: hang-up; many daemons reload on it.
    Hup,
    /// SIGINT: what Ctrl-C sends.
    Int,
    /// SIGQUIT.
    Quit,
    /// SIGKILL: cannot be caught or ignored.
    Kill,
    /// SIGUSR1.
    Usr1,
    /// SIGUSR2.
    Usr2,
    /// SIGTERM: the polite default.
    Term,
    /// SIGCONT.
    Cont,
    /// SIGSTOP: cannot be caught.
    Stop,
    /// SIGCHLD.
    Chld,
    /// SIGWINCH.
    Winch,
    /// SIGTSTP: what Ctrl-Z sends; unlike SIGSTOP it can be caught.
    Tstp,
}

const TABLE: &[(Signal, &str, i32)] = &[
    (Signal::Hup, "HUP", 1),
    (Signal::Int, "INT", 2),
    (Signal::Quit, "QUIT", 3),
    (Signal::Kill, "KILL", 9),
    (Signal::Usr1, "USR1", 10),
    (Signal::Usr2, "USR2", 12),
    (Signal::Term, "TERM", 15),
    (Signal::Chld, "CHLD", 17),
    (Signal::Cont, "CONT", 18),
    (Signal::Stop, "STOP", 19),
    (Signal::Tstp, "TSTP", 20),
    (Signal::Winch, "WINCH", 28),
];

impl Signal {
    /// The name without the `SIG` prefix, e.g. `TERM`.
    pub fn short_name(self) -> &'static str {
        TABLE
            .iter()
            .find(|(s, _, _)| *s == self)
            .map(|e| e.1)
            .unwrap_or("?")
    }
}

impl fmt::Display for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SIG{}", self.short_name())
    }
}

/// Why a signal name was not understood.
#[derive(Debug, thiserror::Error)]
#[error("unknown signal '{0}': use a name like TERM, SIGINT, HUP, KILL or its Linux number")]
pub struct UnknownSignal(String);

impl FromStr for Signal {
    type Err = UnknownSignal;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let upper = text.trim().to_ascii_uppercase();
        let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
        TABLE
            .iter()
            .find(|(_, name, number)| *name == bare || bare.parse::<i32>().ok() == Some(*number))
            .map(|entry| entry.0)
            .ok_or_else(|| UnknownSignal(text.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_prefixes_and_numbers() {
        assert_eq!("TERM".parse::<Signal>().unwrap(), Signal::Term);
        assert_eq!("sigint".parse::<Signal>().unwrap(), Signal::Int);
        assert_eq!("9".parse::<Signal>().unwrap(), Signal::Kill);
        assert!("SIGFOO".parse::<Signal>().is_err());
        assert!("".parse::<Signal>().is_err());
        assert_eq!(Signal::Usr1.to_string(), "SIGUSR1");
    }
}
