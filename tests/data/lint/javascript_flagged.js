// Each line marked `expect:` must get exactly those findings, and no other line any.
const cp = require("child_process");
const { execSync, spawn: start } = require("node:child_process");

execSync("make"); // expect: JS001
cp.execFileSync("git", ["status"], { cwd: "/tmp" }); // expect: JS001
cp.spawnSync("make", [], { ...defaults }); // expect: JS001(info)
execSync("make", options); // expect: JS001(info)
cp.exec("make", (error, stdout) => console.log(stdout)); // expect: JS002
cp.execFile("git", ["status"], { encoding: "utf8" }, () => {}); // expect: JS002

const daemon = start("server", [], { detached: true, stdio: "ignore" }); // expect: JS003
daemon.unref();
cp.spawn("worker", [], { detached: true }).unref(); // expect: JS003
const watcher = cp.fork("watch.js"); // expect: JS004(info)
