//! A small, portable process-tree builder for reaper's cross-platform tests (Linux tests mostly
//! use `sh`; Windows has none). Not part of reaper. Arguments after the ones listed are ignored
//! (tests add a random token there, to find their processes by command line).
//!
//! Usage:
//!   proctree sleep SECS          sleep, then exit 0
//!   proctree tree N SECS         start N children `proctree sleep SECS`, then sleep SECS
//!   proctree listen SECS [PORT]  listen on 127.0.0.1:PORT (default 0), print "port N"
//!                                (flushed), sleep SECS
//!   proctree serve-once SECS     listen on 127.0.0.1:$PORT, accept one connection (a readiness
//!                                probe), close the listener, then sleep SECS
//!   proctree spin SECS           keep one CPU busy for SECS
//!   proctree leave N SECS [ARG…] start N children `proctree sleep SECS ARG…` with no stdio,
//!                                print "pid N" for each (flushed) and exit without waiting,
//!                                so they outlive their parent
//!   proctree exit CODE           exit with CODE at once

use std::io::Write;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn secs(arg: Option<&String>) -> Duration {
    Duration::from_secs(arg.and_then(|s| s.parse().ok()).unwrap_or(600))
}

fn say(line: &str) {
    println!("{line}");
    std::io::stdout().flush().expect("flush");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let me = std::env::current_exe().expect("own path");
    match args.get(1).map(String::as_str) {
        Some("sleep") => std::thread::sleep(secs(args.get(2))),
        Some("tree") => {
            let _children = spawn_sleepers(&me, &args);
            std::thread::sleep(secs(args.get(3)));
        }
        Some("listen") => {
            let port = args.get(3).map_or("0", String::as_str);
            let listener = TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind");
            say(&format!(
                "port {}",
                listener.local_addr().expect("address").port()
            ));
            std::thread::sleep(secs(args.get(2)));
        }
        Some("serve-once") => {
            let port = std::env::var("PORT").expect("PORT is set");
            let listener = TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind");
            drop(listener.accept().expect("accept"));
            drop(listener);
            std::thread::sleep(secs(args.get(2)));
        }
        Some("spin") => {
            let until = Instant::now() + secs(args.get(2));
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        }
        Some("leave") => {
            for child in spawn_sleepers(&me, &args) {
                say(&format!("pid {}", child.id()));
            }
        }
        Some("exit") => std::process::exit(args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1)),
        _ => {
            eprintln!(
                "usage: proctree sleep SECS | tree N SECS | listen SECS [PORT] | serve-once SECS \
                 | spin SECS | leave N SECS [ARG…] | exit CODE"
            );
            std::process::exit(2);
        }
    }
}

/// Starts `args[2]` (default 2) children `proctree sleep args[3] args[4..]`, with no stdio: they
/// do not hold their parent's output open (on Windows they still inherit its inheritable
/// handles, pipes included).
fn spawn_sleepers(me: &std::path::Path, args: &[String]) -> Vec<std::process::Child> {
    let count: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(2);
    (0..count)
        .map(|_| {
            Command::new(me)
                .arg("sleep")
                .arg(args.get(3).map_or("600", String::as_str))
                .args(args.get(4..).unwrap_or_default())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn child")
        })
        .collect()
}
