#!/bin/sh
# Installs the reaper binary from a release archive after checking its SHA-256 checksum.
#
#   curl -fsSL https://github.com/OWNER/REPO/releases/latest/download/install.sh | sh
#
# The copy attached to a release knows its repository (the release workflow fills it in below);
# a copy taken from the source tree needs REAPER_DOWNLOAD_URL.
#
# Environment (all optional):
#   REAPER_VERSION       release tag to install, e.g. v0.1.0 (default: the latest release)
#   REAPER_INSTALL_DIR   where to put `reaper` (default: $HOME/.local/bin)
#   REAPER_TARGET        archive target triple (default: this machine's; Linux gets the static
#                        musl build, which runs on every distribution)
#   REAPER_DOWNLOAD_URL  URL of the directory holding the archives (default: the GitHub release;
#                        file:// works too)
set -eu

repository=@REPOSITORY@

fail() {
  echo "install.sh: $*" >&2
  exit 1
}

detect_target() {
  case $(uname -m) in
    x86_64 | amd64) arch=x86_64 ;;
    aarch64 | arm64) arch=aarch64 ;;
    *) fail "no release archive for the processor $(uname -m): build from source with \`cargo install reaper-pm\`" ;;
  esac
  case $(uname -s) in
    Linux) echo "$arch-unknown-linux-musl" ;;
    Darwin) echo "$arch-apple-darwin" ;;
    *) fail "no release archive for $(uname -s): on Windows use install.ps1; elsewhere \`cargo install reaper-pm\`" ;;
  esac
}

download() { # URL FILE
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL "$1" -o "$2" || fail "cannot download $1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q "$1" -O "$2" || fail "cannot download $1"
  else
    fail "neither curl nor wget is installed: install one of them"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d ' ' -f 1
  elif command -v shasum >/dev/null 2>&1; then
    shasum -a 256 "$1" | cut -d ' ' -f 1
  else
    fail "neither sha256sum nor shasum is installed: cannot verify the download"
  fi
}

target=${REAPER_TARGET:-$(detect_target)}
case $repository in
  https://*) ;;
  *) [ -n "${REAPER_DOWNLOAD_URL:-}" ] ||
    fail "this install.sh is not from a release (it does not know the repository): set REAPER_DOWNLOAD_URL to the directory holding the archives" ;;
esac
if [ -n "${REAPER_DOWNLOAD_URL:-}" ]; then
  base=$REAPER_DOWNLOAD_URL
elif [ -n "${REAPER_VERSION:-}" ]; then
  base=$repository/releases/download/$REAPER_VERSION
else
  base=$repository/releases/latest/download
fi
install_dir=${REAPER_INSTALL_DIR:-$HOME/.local/bin}
name=reaper-pm-$target
archive=$name.tar.gz

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

download "$base/$archive" "$work/$archive"
download "$base/$archive.sha256" "$work/$archive.sha256"
expected=$(cut -d ' ' -f 1 <"$work/$archive.sha256")
actual=$(sha256_of "$work/$archive")
[ "$actual" = "$expected" ] ||
  fail "checksum mismatch for $archive: expected $expected, got $actual; nothing was installed"

tar -xzf "$work/$archive" -C "$work"
mkdir -p "$install_dir"
# Copy next to the destination, then rename: a running reaper is never overwritten in place.
cp "$work/$name/reaper" "$install_dir/.reaper.new"
chmod 755 "$install_dir/.reaper.new"
mv -f "$install_dir/.reaper.new" "$install_dir/reaper"

echo "installed $("$install_dir/reaper" --version) to $install_dir/reaper"
case ":$PATH:" in
  *":$install_dir:"*) ;;
  *) echo "add $install_dir to PATH to run it as \`reaper\`" ;;
esac
echo "shell completions and the man page: \`reaper completions SHELL\`, \`reaper man\` (see README)"
