"""Migration task of the devstack example: creates the API's SQLite database (standard library
only). It runs once before the API starts (`kind = "task"` in reaper.toml); running it again
changes nothing."""

import os
import sqlite3

PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "app.db")

with sqlite3.connect(PATH) as db:
    db.execute("CREATE TABLE IF NOT EXISTS greetings (id INTEGER PRIMARY KEY, text TEXT NOT NULL)")
    if db.execute("SELECT COUNT(*) FROM greetings").fetchone()[0] == 0:
        db.execute("INSERT INTO greetings (text) VALUES ('hello from the migrated database')")
print(f"migrate: {PATH} is up to date", flush=True)
