//! Helpers for the port tests: real listeners on ephemeral ports (127.0.0.1:0, [::1]:0), in
//! python3 processes this test starts itself, carrying the sandbox token.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use crate::common::{Sandbox, TOKEN_VAR};

/// The helper program: MODE [ARG]. Prints "PORT [PID…]" once its sockets are ready, then
/// sleeps until it is ended.
const HELPER: &str = r#"
import os, signal, socket, subprocess, sys, time
mode = sys.argv[1]

def tcp(host='127.0.0.1', family=socket.AF_INET):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, 0))
    s.listen()
    return s

def ready(*fields):
    print(*fields, flush=True)

if mode == 'tcp4':
    s = tcp(); ready(s.getsockname()[1])
elif mode == 'tcp6':
    s = tcp('::1', socket.AF_INET6); ready(s.getsockname()[1])
elif mode == 'udp':
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('127.0.0.1', 0))
    ready(s.getsockname()[1])
elif mode == 'fork':
    # One socket shared by a parent and its forked worker (gunicorn, npm -> node).
    s = tcp()
    r, w = os.pipe()
    child = os.fork()
    if child == 0:
        os.write(w, b'x'); time.sleep(1000); os._exit(0)
    os.read(r, 1)
    ready(s.getsockname()[1], os.getpid(), child)
elif mode == 'ignore-term':
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    s = tcp(); ready(s.getsockname()[1])
elif mode == 'client':
    c = socket.create_connection(('127.0.0.1', int(sys.argv[2])))
    ready(c.getsockname()[1])
elif mode == 'server-with-accepted':
    # A listener that accepts one connection and keeps it.
    s = tcp(); ready(s.getsockname()[1])
    conn, _ = s.accept()
elif mode == 'other-port-child':
    # A holder whose child serves another port (and does not hold this one).
    s = tcp()
    child = subprocess.Popen([sys.executable, '-c', 'import socket, time\n'
        's = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()\n'
        'print(s.getsockname()[1], flush=True); time.sleep(1000)'],
        stdout=subprocess.PIPE, close_fds=True)
    other = int(child.stdout.readline())
    ready(s.getsockname()[1], child.pid, other)
elif mode == 'time-wait':
    # Leaves only a TIME-WAIT socket on the port: the server side closes first.
    s = tcp(); port = s.getsockname()[1]
    c = socket.create_connection(('127.0.0.1', port))
    conn, _ = s.accept()
    conn.close(); time.sleep(0.05); c.recv(1); c.close(); s.close(); time.sleep(0.05)
    ready(port)
elif mode == 'close-wait':
    # No listener left; this process keeps an accepted connection its peer closed.
    s = tcp(); port = s.getsockname()[1]
    c = socket.create_connection(('127.0.0.1', port))
    conn, _ = s.accept()
    s.close(); c.close(); time.sleep(0.05)
    ready(port)
elif mode == 'run-reaper':
    # Holds a listener and runs reaper (argv[2:]) with it, passing the socket on: the holder is
    # reaper's parent, and reaper itself.
    s = tcp(); port = str(s.getsockname()[1])
    args = [a.replace('{port}', port) for a in sys.argv[2:]]
    r = subprocess.run(args, pass_fds=[s.fileno()], capture_output=True, text=True)
    print(port, r.returncode, flush=True)
    print(r.stdout + r.stderr, flush=True)
    sys.exit(0)
time.sleep(1000)
"#;

/// A helper process; killed (if still ours and alive) and reaped on drop.
pub struct Helper {
    pub child: Child,
    /// The fields of its ready line.
    pub fields: Vec<String>,
    reader: BufReader<std::process::ChildStdout>,
}

impl Helper {
    pub fn spawn(sandbox: &Sandbox, mode: &str, args: &[&str]) -> Helper {
        let mut child = Command::new("python3")
            .arg("-c")
            .arg(HELPER)
            .arg(mode)
            .args(args)
            .env(TOKEN_VAR, &sandbox.token)
            .env("REAPER_STATE_DIR", sandbox.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3");
        let mut reader = BufReader::new(child.stdout.take().expect("piped"));
        let mut line = String::new();
        reader.read_line(&mut line).expect("ready line");
        let fields: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        assert!(!fields.is_empty(), "helper {mode} did not report");
        sandbox.note_tree();
        Helper {
            child,
            fields,
            reader,
        }
    }

    /// The port it reported.
    pub fn port(&self) -> u16 {
        self.fields[0].parse().expect("port")
    }

    /// Field `n` of the ready line as a number.
    pub fn number(&self, n: usize) -> u32 {
        self.fields[n].parse().expect("number")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The rest of its output, once it has exited.
    pub fn rest(&mut self) -> String {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut self.reader, &mut text).ok();
        text
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        // Kill only while it is still our unreaped child (its pid cannot be reused then).
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// True when a server could bind 127.0.0.1:`port` now (with SO_REUSEADDR, as std does).
pub fn bindable(port: u16) -> bool {
    std::net::TcpListener::bind(("127.0.0.1", port)).is_ok()
}
