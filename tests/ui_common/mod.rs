//! Helpers for the terminal UI tests: `reaper` on a pseudo-terminal of a known size, driven
//! with keys; what it draws is fed to a terminal emulator (vt100), so tests read the screen a
//! person would see, not the escape sequences that painted it.
#![allow(dead_code)]

use std::process::Command;
use std::time::{Duration, Instant};

use rexpect::process::WaitStatus;
use rexpect::session::PtySession;

use crate::common::{Sandbox, TOKEN_VAR};

/// Time any one expected text may take to appear.
pub const EXPECT: Duration = Duration::from_secs(60);
const ROWS: u16 = 30;
const COLUMNS: u16 = 120;

/// A program on a pseudo-terminal and the screen it drew.
pub struct Pty {
    pub session: PtySession,
    parser: vt100::Parser,
}

impl Pty {
    /// `reaper ARGS` on a new 120×30 pseudo-terminal, with the sandbox's state dir, working
    /// directory and token. `stty` sizes the terminal first (a new pty is 0×0).
    pub fn reaper(sandbox: &Sandbox, args: &[&str]) -> Pty {
        Pty::reaper_with(sandbox, args, &[])
    }

    /// As [`Pty::reaper`], with these environment variables as well.
    pub fn reaper_with(sandbox: &Sandbox, args: &[&str], env: &[(&str, &str)]) -> Pty {
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!(
                "stty cols {COLUMNS} rows {ROWS} && exec \"$0\" \"$@\""
            ))
            .arg(assert_cmd::cargo::cargo_bin("reaper"))
            .args(args)
            .current_dir(sandbox.path())
            .env("REAPER_STATE_DIR", sandbox.path())
            .env(TOKEN_VAR, &sandbox.token)
            .env("TERM", "xterm-256color")
            .env_remove("NO_COLOR")
            .env_remove("CI")
            .envs(env.iter().copied());
        let session = rexpect::session::spawn_command(command, Some(EXPECT.as_millis() as u64))
            .expect("spawn reaper on a pty");
        Pty {
            session,
            parser: vt100::Parser::new(ROWS, COLUMNS, 0),
        }
    }

    /// Feeds what the program wrote so far to the emulator.
    fn pump(&mut self) {
        let mut bytes = Vec::new();
        // rexpect hands out each byte as a char of the same value.
        while let Some(c) = self.session.try_read() {
            bytes.push(c as u32 as u8);
        }
        self.parser.process(&bytes);
    }

    /// The screen now.
    pub fn screen(&mut self) -> String {
        self.pump();
        self.parser.screen().contents()
    }

    /// Waits until the screen shows `needle`; panics with the screen if it does not in time.
    pub fn wait_for(&mut self, needle: &str) {
        let deadline = Instant::now() + EXPECT;
        loop {
            let screen = self.screen();
            if screen.contains(needle) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{needle:?} did not appear; the screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Types `keys`.
    pub fn send(&mut self, keys: &str) {
        self.session.send(keys).expect("write to the pty");
        self.session.flush().expect("flush the pty");
    }

    /// Sends `signal` to the program on the pty (this test's own child).
    pub fn signal(&mut self, signal: rexpect::process::Signal) {
        self.session
            .process_mut()
            .signal(signal)
            .expect("signal the program on the pty");
    }

    /// Waits for the program to end; returns its exit code after checking that it gave the
    /// terminal back (main screen, no mouse reporting, cursor shown).
    pub fn exit_code(&mut self) -> i32 {
        let status = self.session.process_mut().wait().expect("wait for reaper");
        let rest = self.session.exp_eof().unwrap_or_default();
        self.pump();
        let bytes: Vec<u8> = rest.chars().map(|c| c as u32 as u8).collect();
        self.parser.process(&bytes);
        let screen = self.parser.screen();
        assert!(!screen.alternate_screen(), "left on the alternate screen");
        assert_eq!(
            screen.mouse_protocol_mode(),
            vt100::MouseProtocolMode::None,
            "mouse reporting left on"
        );
        assert!(!screen.hide_cursor(), "cursor left hidden");
        let terminal = self
            .session
            .process()
            .get_file_handle()
            .expect("pty handle");
        let modes = rustix::termios::tcgetattr(&terminal).expect("terminal modes");
        assert!(
            modes
                .local_modes
                .contains(rustix::termios::LocalModes::ICANON | rustix::termios::LocalModes::ISIG),
            "raw mode left on"
        );
        match status {
            WaitStatus::Exited(_, code) => code,
            other => panic!("reaper did not exit normally: {other:?}"),
        }
    }
}

/// The leader pid of `name` per `json` (a `ps --json` or `status --json` document).
pub fn pid_of(json: &serde_json::Value, name: &str) -> Option<u64> {
    json["services"]
        .as_array()?
        .iter()
        .find(|s| s["name"] == name)?
        .get("pid")?
        .as_u64()
}
