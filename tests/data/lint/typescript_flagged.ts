// Each line marked `expect:` must get exactly those findings, and no other line any.
import { execSync, spawnSync } from "child_process";

const out: string = execSync("make").toString(); // expect: JS001
function build(target: string): void {
  spawnSync("make", [target] as string[], { stdio: "inherit" }); // expect: JS001
}

import cp = require("child_process");
cp.execFileSync("git", ["status"]); // expect: JS001
