"""Backend of the devstack example: a JSON API on the standard library only.

It forks a worker process at start (as job runners and `--reload` watchers do) and keeps it
alive; `reaper` stops both, since every process of the service is in its tree.
"""

import json
import os
import signal
import sqlite3
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(os.environ.get("PORT", "8001"))
TOKEN = os.environ.get("API_TOKEN", "")
LOG_LEVEL = os.environ.get("LOG_LEVEL", "info")
DATABASE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "app.db")


def worker():
    """The forked worker: a heartbeat every few seconds until it is told to stop."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        beats = 0
        while True:
            beats += 1
            print(f"worker {os.getpid()}: heartbeat {beats}", flush=True)
            time.sleep(5)
    except (KeyboardInterrupt, SystemExit):
        print(f"worker {os.getpid()}: stopping", flush=True)
    os._exit(0)


WORKER = os.fork()
if WORKER == 0:
    worker()


def greeting():
    """The greeting stored by migrate.py, which reaper runs (as a task) before this API."""
    with sqlite3.connect(DATABASE) as db:
        return db.execute("SELECT text FROM greetings LIMIT 1").fetchone()[0]


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            self.reply(200, {"ok": True})
        elif self.path == "/api/hello":
            if self.headers.get("Authorization") != f"Bearer {TOKEN}":
                self.reply(401, {"error": "bad or missing token"})
            else:
                self.reply(200, {"message": greeting(), "worker_pid": WORKER})
        else:
            self.reply(404, {"error": "not found"})

    def log_message(self, fmt, *args):
        if LOG_LEVEL == "debug":
            print(f"api: {self.command} {self.path} -> {args[1] if len(args) > 1 else '?'}", flush=True)


server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
print(f"api: listening on http://127.0.0.1:{PORT} (pid {os.getpid()}, worker pid {WORKER})", flush=True)
try:
    server.serve_forever()
except KeyboardInterrupt:
    print("api: SIGINT received, shutting down", flush=True)
finally:
    server.server_close()
