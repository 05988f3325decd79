#!/usr/bin/env node
// The `reaper` command of the npm package: runs the binary that this platform's package
// (reaper-pm-<platform>-<arch>, an optional dependency npm installs only where it fits) carries,
// passing arguments, stdio, signals and the exit status through.
"use strict";

const { spawn } = require("node:child_process");

const key = `${process.platform}-${process.arch}`;
const platformPackage = `reaper-pm-${key}`;
const executable = process.platform === "win32" ? "reaper.exe" : "reaper";

function fail(message) {
  process.stderr.write(`reaper: ${message}\n`);
  process.exit(2);
}

let binary;
try {
  binary = require.resolve(`${platformPackage}/bin/${executable}`);
} catch {
  fail(
    `no binary for ${key}: the package ${platformPackage} is not installed. ` +
      "Reinstall reaper-pm without --omit=optional / --no-optional, or, if your platform has no " +
      "package, install with `cargo install reaper-pm`.",
  );
}

const child = spawn(binary, process.argv.slice(2), { stdio: "inherit" });
child.on("error", (error) => fail(`cannot run ${binary}: ${error.message}`));

// A terminal sends SIGINT and SIGQUIT to its whole foreground process group, reaper included:
// passing them on would deliver them twice (and a second SIGINT escalates `reaper run` to
// SIGKILL), so the launcher only ignores them. Signals sent to the launcher alone are passed on.
const ignored = ["SIGINT", "SIGQUIT"];
const forwarded = process.platform === "win32" ? [] : ["SIGTERM", "SIGHUP", "SIGUSR2", "SIGWINCH"];
for (const signal of ignored) process.on(signal, () => {});
for (const signal of forwarded) process.on(signal, () => child.kill(signal));
if (process.platform === "win32") process.on("SIGBREAK", () => {});

child.on("exit", (code, signal) => {
  if (signal) {
    // End the same way the binary did, so a caller sees the signal and not a plain exit code.
    process.removeAllListeners(signal);
    process.kill(process.pid, signal);
  }
  process.exit(code ?? 1);
});
