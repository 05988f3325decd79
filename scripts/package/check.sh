#!/usr/bin/env bash
# Builds what users install and installs each the way a user would, on this machine:
#   1. the crate, with `cargo publish --dry-run`;
#   2. the static musl build, if the x86_64-unknown-linux-musl target can be installed (the release
#      puts it in the Linux wheels, npm packages and install.sh's default archive);
#   3. the wheel (maturin, `bindings = "bin"`) into a fresh venv; the sdist, checked to hold the
#      crate and built into a wheel by pip;
#   4. the npm tarballs (`npm pack`) into a fresh project, run through `npx reaper`, and the
#      launcher without its platform package;
#   5. the release archives through install.sh, served over HTTP on 127.0.0.1 (ephemeral port),
#      including a tampered checksum that must install nothing.
# Every installed reaper runs `--version` and a start/stop round trip (round-trip.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)
work=$(mktemp -d)
server=

cleanup() {
  # The HTTP server is the one process this script starts itself.
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "package check FAILED: $*" >&2
  exit 1
}

step() { echo "== $*"; }

round_trip() { "$root/scripts/package/round-trip.sh" "$@"; }

step "crate: cargo publish --dry-run (packages the crate and builds it from the package)"
cargo publish --dry-run --locked --allow-dirty

step "release build"
cargo build --release --locked
binary=$root/target/release/reaper

step "static musl build"
musl=x86_64-unknown-linux-musl
static=
# The `lint` feature's tree-sitter grammars are C: musl-gcc (Debian's musl-tools, which .ci/run
# installs) compiles them for the static build, here and for the wheel below.
if command -v musl-gcc >/dev/null; then
  export CC_x86_64_unknown_linux_musl=musl-gcc
fi
if [ "$(uname -m)" = x86_64 ] && rustup target add "$musl"; then
  cargo build --release --locked --target "$musl"
  static=$root/target/$musl/release/reaper
  linkage=$(ldd "$static" 2>&1 || true)
  case $linkage in
    *"statically linked"* | *"not a dynamic executable"*) ;;
    *) fail "the musl build is dynamically linked: $linkage" ;;
  esac
else
  echo "SKIPPED: the $musl target cannot be installed here (rustup target add failed);" \
    "the wheel and npm package carry the host build instead"
fi

step "PyPI: maturin wheel and sdist"
tools=$root/target/pkg-venv
[ -x "$tools/bin/twine" ] || { python3 -m venv "$tools" && "$tools/bin/pip" install -q maturin twine; }
if [ -n "$static" ]; then
  # As the release builds Linux wheels: the static build, good for glibc and musl systems.
  "$tools/bin/maturin" build --release --locked --target "$musl" \
    --compatibility manylinux2014 musllinux_1_2 --out "$work/wheels"
else
  "$tools/bin/maturin" build --release --locked --out "$work/wheels"
fi
"$tools/bin/maturin" sdist --out "$work/sdist"
sdist=$work/sdist/reaper_pm-$version.tar.gz
"$tools/bin/twine" check --strict "$work"/wheels/*.whl "$sdist"
listing=$(tar -tzf "$sdist")
for file in pyproject.toml Cargo.toml Cargo.lock src/main.rs src/lib.rs LICENSE-MIT LICENSE-APACHE; do
  grep -qx "reaper_pm-$version/$file" <<<"$listing" || fail "the sdist lacks $file"
done
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --no-index "$work"/wheels/reaper_pm-"$version"-*.whl
[ -x "$work/venv/bin/reaper" ] || fail "the wheel did not put reaper on the venv's PATH"
round_trip pip "$work/venv/bin/reaper"
# Where no wheel fits, pip builds the sdist. It shares this target dir, so only reaper compiles:
# its files are touched, else cargo would take the artifacts built from the work tree as fresh.
mkdir "$work/sdist-src"
tar -xzf "$sdist" -C "$work/sdist-src"
find "$work/sdist-src" -type f -exec touch {} +
CARGO_TARGET_DIR=$root/target PATH=$tools/bin:$PATH "$tools/bin/pip" wheel -q --no-deps \
  --no-build-isolation -w "$work/from-sdist" "$work/sdist-src/reaper_pm-$version"
python3 -m venv "$work/venv-sdist"
"$work/venv-sdist/bin/pip" install -q --no-index "$work"/from-sdist/reaper_pm-"$version"-*.whl
round_trip pip-sdist "$work/venv-sdist/bin/reaper"

step "npm: launcher and this platform's binary package"
key=$(node -p 'process.platform + "-" + process.arch')
scripts/package/npm.sh main "$work/npm"
scripts/package/npm.sh platform "$key" "${static:-$binary}" "$work/npm"
mkdir "$work/project" "$work/project-without-binary"
(cd "$work/project" && npm init -y >/dev/null &&
  npm install -D --no-audit --no-fund "$work/npm/reaper-pm-$key-$version.tgz" "$work/npm/reaper-pm-$version.tgz")
(cd "$work/project" && round_trip npm npx --no-install reaper)
# Without its platform package the launcher says what to do, with exit 2.
(cd "$work/project-without-binary" && npm init -y >/dev/null &&
  npm install -D --no-audit --no-fund --omit=optional "$work/npm/reaper-pm-$version.tgz")
status=0
message=$(cd "$work/project-without-binary" && npx --no-install reaper --version 2>&1) || status=$?
if [ "$status" != 2 ] || ! grep -q "reaper-pm-$key is not installed" <<<"$message"; then
  fail "the launcher without a binary exited $status with: $message"
fi

step "release archives through install.sh (HTTP on 127.0.0.1)"
host=$(rustc -vV | sed -n 's/^host: //p')
scripts/package/archive.sh "$host" "$binary" "$work/dist"
listing=$(tar -tzf "$work/dist/reaper-pm-$host.tar.gz")
for file in reaper man/reaper.1 completions/reaper.bash LICENSE-MIT; do
  grep -qx "reaper-pm-$host/$file" <<<"$listing" || fail "the archive lacks $file"
done
mkdir "$work/tampered"
cp "$work/dist/reaper-pm-$host.tar.gz" "$work/tampered/"
echo "0000000000000000000000000000000000000000000000000000000000000000  reaper-pm-$host.tar.gz" \
  >"$work/tampered/reaper-pm-$host.tar.gz.sha256"
python3 -u -m http.server --bind 127.0.0.1 --directory "$work" 0 >"$work/server.log" 2>&1 &
server=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.* port \([0-9]*\) .*/\1/p' "$work/server.log")
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "the HTTP server did not start: $(cat "$work/server.log")"
if REAPER_DOWNLOAD_URL=http://127.0.0.1:$port/tampered REAPER_TARGET=$host \
  REAPER_INSTALL_DIR=$work/bin-tampered sh install.sh; then
  fail "install.sh accepted an archive whose checksum does not match"
fi
[ ! -e "$work/bin-tampered/reaper" ] || fail "install.sh installed an archive whose checksum does not match"
REAPER_DOWNLOAD_URL=http://127.0.0.1:$port/dist REAPER_TARGET=$host REAPER_INSTALL_DIR=$work/bin sh install.sh
round_trip install-sh "$work/bin/reaper"
if [ -n "$static" ]; then
  scripts/package/archive.sh "$musl" "$static" "$work/dist"
  # No REAPER_TARGET: install.sh picks the musl archive on Linux itself.
  REAPER_DOWNLOAD_URL=http://127.0.0.1:$port/dist REAPER_INSTALL_DIR=$work/bin-musl sh install.sh
  round_trip install-sh-musl "$work/bin-musl/reaper"
fi
echo "package check passed"
