#!/usr/bin/env bash
# Packs the npm packages (npm pack) into OUTDIR:
#
#   scripts/package/npm.sh main OUTDIR                       reaper-pm: the launcher
#   scripts/package/npm.sh platform KEY BINARY OUTDIR        reaper-pm-KEY: the binary for KEY
#
# KEY is Node's `${process.platform}-${process.arch}` (linux-x64, linux-arm64, darwin-x64,
# darwin-arm64, win32-x64); each platform package declares its os and cpu, so npm installs only the
# one that fits as reaper-pm's optional dependency (the pattern esbuild and Biome use). The
# versions in npm/reaper-pm/package.json must equal Cargo.toml's.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$root/Cargo.toml" | head -n 1)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

# Every version in the launcher's package.json must be the crate's: the launcher and the binary
# packages are published together. (The `${…}` in these scripts are JavaScript's.)
# shellcheck disable=SC2016
node -e '
  const pkg = require(process.argv[1]);
  const wrong = [["version", pkg.version], ...Object.entries(pkg.optionalDependencies)]
    .filter(([, v]) => v !== process.argv[2]);
  if (wrong.length) {
    console.error(`npm/reaper-pm/package.json: ${wrong.map(([k, v]) => `${k} ${v}`).join(", ")}` +
      ` differ from Cargo.toml version ${process.argv[2]}: set them to it`);
    process.exit(1);
  }' "$root/npm/reaper-pm/package.json" "$version"

case ${1:-} in
  main)
    [ $# -eq 2 ] || { echo "usage: $0 main OUTDIR" >&2; exit 2; }
    outdir=$2
    cp -r "$root/npm/reaper-pm/." "$stage/"
    cp "$root/README.md" "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$stage/"
    ;;
  platform)
    [ $# -eq 4 ] || { echo "usage: $0 platform KEY BINARY OUTDIR" >&2; exit 2; }
    key=$2 binary=$3 outdir=$4
    os=${key%-*} cpu=${key#*-}
    exe=reaper
    [ "$os" = win32 ] && exe=reaper.exe
    # shellcheck disable=SC2016
    node -e '
      const [launcher, key, os, cpu, out] = process.argv.slice(1);
      const main = require(launcher);
      if (!(`reaper-pm-${key}` in main.optionalDependencies)) {
        console.error(`reaper-pm-${key} is not an optional dependency of reaper-pm: add it`);
        process.exit(1);
      }
      const pkg = {
        name: `reaper-pm-${key}`, version: main.version,
        description: `The reaper binary for ${key} (installed by reaper-pm)`,
        homepage: main.homepage, repository: main.repository, license: main.license,
        os: [os], cpu: [cpu], files: ["bin/"], preferUnplugged: true,
      };
      require("node:fs").writeFileSync(out, JSON.stringify(pkg, null, 2) + "\n");
    ' "$root/npm/reaper-pm/package.json" "$key" "$os" "$cpu" "$stage/package.json"
    mkdir "$stage/bin"
    cp "$binary" "$stage/bin/$exe"
    chmod 755 "$stage/bin/$exe"
    cp "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$stage/"
    ;;
  *)
    echo "usage: $0 main OUTDIR | $0 platform KEY BINARY OUTDIR" >&2
    exit 2
    ;;
esac

mkdir -p "$outdir"
outdir=$(cd "$outdir" && pwd)
(cd "$stage" && npm pack --silent --pack-destination "$outdir")
