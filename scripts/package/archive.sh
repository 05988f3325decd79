#!/usr/bin/env bash
# Makes the release archive of one target: reaper-pm-TARGET.tar.gz (.zip for Windows) holding the
# binary, shell completions, the man page, README, CHANGELOG and licences, and beside it
# reaper-pm-TARGET.tar.gz.sha256 in `sha256sum` format. install.sh and install.ps1 download these.
#
#   scripts/package/archive.sh TARGET BINARY OUTDIR [HOST_BINARY]
#
# HOST_BINARY is a reaper that runs on this machine, used to write the completions and man page
# (they are the same for every target); it defaults to BINARY.
set -euo pipefail

if [ $# -lt 3 ]; then
  echo "usage: $0 TARGET BINARY OUTDIR [HOST_BINARY]" >&2
  exit 2
fi
target=$1 binary=$2 outdir=$3 host=${4:-$2}
root=$(cd "$(dirname "$0")/../.." && pwd)
name=reaper-pm-$target

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/$name/completions" "$stage/$name/man" "$outdir"
outdir=$(cd "$outdir" && pwd)

case $target in
  *windows*) exe=reaper.exe ;;
  *) exe=reaper ;;
esac
cp "$binary" "$stage/$name/$exe"
chmod 755 "$stage/$name/$exe"
cp "$root/README.md" "$root/CHANGELOG.md" "$root/LICENSE-MIT" "$root/LICENSE-APACHE" "$stage/$name/"
"$host" completions bash >"$stage/$name/completions/reaper.bash"
"$host" completions zsh >"$stage/$name/completions/_reaper"
"$host" completions fish >"$stage/$name/completions/reaper.fish"
"$host" completions powershell >"$stage/$name/completions/_reaper.ps1"
"$host" completions elvish >"$stage/$name/completions/reaper.elv"
"$host" man >"$stage/$name/man/reaper.1"

case $target in
  *windows*)
    archive=$name.zip
    # `python` first: on Windows runners `python3` may be the store's placeholder.
    python=$(command -v python || command -v python3)
    (cd "$stage" && "$python" -m zipfile -c "$outdir/$archive" "$name")
    ;;
  *)
    archive=$name.tar.gz
    tar -C "$stage" -czf "$outdir/$archive" "$name"
    ;;
esac

if command -v sha256sum >/dev/null 2>&1; then
  (cd "$outdir" && sha256sum "$archive" >"$archive.sha256")
else
  (cd "$outdir" && shasum -a 256 "$archive" >"$archive.sha256")
fi
echo "$outdir/$archive"
