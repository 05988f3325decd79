//! A small, portable process-tree builder for reaper's cross-platform tests (Linux tests mostly
//! use `sh`; Windows has none). Not part of reaper.
//!
//! Usage:
//!   proctree sleep SECS          sleep, then exit 0
//!   proctree tree N SECS         start N children `proctree sleep SECS`, then sleep SECS
//!   proctree listen SECS         listen on 127.0.0.1:0, print "port N" (flushed), sleep SECS
//!   proctree exit CODE           exit with CODE at once
//!   proctree leave N SECS        start N children `proctree sleep SECS`, print "child PID" for
//!                                each (flushed), and exit 0 without waiting for them

use std::io::Write;
use std::process::Command;
use std::time::Duration;

fn secs(arg: Option<&String>) -> Duration {
    Duration::from_secs(arg.and_then(|s| s.parse().ok()).unwrap_or(600))
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("sleep") => std::thread::sleep(secs(args.get(2))),
        Some("tree") => {
            let _children = spawn_sleepers(&args);
            std::thread::sleep(secs(args.get(3)));
        }
        Some("leave") => {
            for child in spawn_sleepers(&args) {
                println!("child {}", child.id());
            }
            std::io::stdout().flush().expect("flush");
        }
        Some("exit") => std::process::exit(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1)),
        Some("listen") => {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
            let port = listener.local_addr().expect("address").port();
            println!("port {port}");
            std::io::stdout().flush().expect("flush");
            std::thread::sleep(secs(args.get(2)));
        }
        _ => {
            eprintln!(
                "usage: proctree sleep SECS | tree N SECS | listen SECS | exit CODE | leave N SECS"
            );
            std::process::exit(2);
        }
    }
}

/// Starts `args[2]` (default 2) children `proctree sleep args[3]`.
fn spawn_sleepers(args: &[String]) -> Vec<std::process::Child> {
    let count: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    let me = std::env::current_exe().expect("own path");
    (0..count)
        .map(|_| {
            // Not holding the parent's output open: whoever reads it sees its end when the
            // parent exits, even if the sleepers stay (as `run --leaks report` leaves them).
            Command::new(&me)
                .args(["sleep", args.get(3).map_or("600", String::as_str)])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .expect("spawn child")
        })
        .collect()
}
