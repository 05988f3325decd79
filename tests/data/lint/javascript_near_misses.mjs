// Near misses: none of these may be flagged.
import { execSync, exec, spawn } from "child_process";
import * as childProcess from "node:child_process";

execSync("make", { timeout: 60_000 });
childProcess.execFileSync("git", ["status"], { timeout: 5000, encoding: "utf8" });
exec("make", { timeout: 1000 }, () => {});
const timeout = 500;
childProcess.spawnSync("make", [], { timeout });

// Detached but still waited for (no unref), and killed on exit.
const child = spawn("server", [], { detached: true });
process.on("exit", () => child.kill());

// Not child_process at all.
/x+/.exec("xxx");
db.exec("select 1");
execSync("deliberate"); // reaper: ignore[JS001]
