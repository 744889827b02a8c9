#!/bin/sh
# Installs the stowage executable for this machine, verified against the release's SHA256SUMS.
#
#   curl -fsSL https://github.com/stowage/stowage/releases/latest/download/install.sh | sh
#   sh install.sh [--dir DIR] [--version X.Y.Z]
#
# Environment (each also settable by the flags above):
#   STOWAGE_INSTALL_DIR   where to put `stowage` (default ~/.local/bin)
#   STOWAGE_VERSION       a release such as 0.3.0 (default: the latest)
#   STOWAGE_INSTALL_BASE  the folder URL holding the executables and SHA256SUMS (default: the
#                         GitHub release; a mirror or a local server for tests)
#   STOWAGE_REPO          owner/name on GitHub (default stowage/stowage)
#
# Nothing is installed unless the download's SHA-256 matches its line in SHA256SUMS.
set -eu

repo="${STOWAGE_REPO:-stowage/stowage}"
dir="${STOWAGE_INSTALL_DIR:-${HOME:?HOME is not set}/.local/bin}"
version="${STOWAGE_VERSION:-}"

fail() {
  printf 'stowage install: %s\n' "$1" >&2
  exit 1
}

while [ $# -gt 0 ]; do
  case "$1" in
    --dir) [ $# -ge 2 ] || fail "--dir needs a directory"; dir="$2"; shift 2 ;;
    --version) [ $# -ge 2 ] || fail "--version needs a version such as 0.3.0"; version="$2"; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" 2>/dev/null || true; exit 0 ;;
    *) fail "unknown argument '$1' (use --dir DIR, --version X.Y.Z)" ;;
  esac
done

if [ -n "${STOWAGE_INSTALL_BASE:-}" ]; then
  base="${STOWAGE_INSTALL_BASE%/}"
elif [ -n "$version" ]; then
  base="https://github.com/$repo/releases/download/v${version#v}"
else
  base="https://github.com/$repo/releases/latest/download"
fi

# The build target for this machine: the names build.ts gives its executables.
os="$(uname -s)"
arch="$(uname -m)"
case "$os" in
  Linux) os=linux ;;
  Darwin) os=darwin ;;
  MINGW* | MSYS* | CYGWIN*) fail "on Windows use install.ps1 (PowerShell)" ;;
  *) fail "no stowage executable for $os; run it with bunx stowage, or from source" ;;
esac
case "$arch" in
  x86_64 | amd64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) fail "no stowage executable for $os on $arch; run it with bunx stowage, or from source" ;;
esac
# An x64 shell under Rosetta on Apple silicon: the native build is the better one.
if [ "$os-$arch" = darwin-x64 ] && [ "$(sysctl -n sysctl.proc_translated 2>/dev/null || echo 0)" = 1 ]; then
  arch=arm64
fi
file="stowage-$os-$arch"

if command -v curl >/dev/null 2>&1; then
  fetch() { curl -fsSL --retry 2 -o "$2" "$1"; }
elif command -v wget >/dev/null 2>&1; then
  fetch() { wget -q -O "$2" "$1"; }
else
  fail "needs curl or wget to download"
fi

if command -v sha256sum >/dev/null 2>&1; then
  sha256() { sha256sum "$1" | cut -d ' ' -f 1; }
elif command -v shasum >/dev/null 2>&1; then
  sha256() { shasum -a 256 "$1" | cut -d ' ' -f 1; }
elif command -v openssl >/dev/null 2>&1; then
  sha256() { openssl dgst -sha256 -r "$1" | cut -d ' ' -f 1; }
else
  fail "needs sha256sum, shasum or openssl to verify the download"
fi

tmp="$(mktemp -d 2>/dev/null || mktemp -d -t stowage)"
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM

printf 'Downloading %s from %s\n' "$file" "$base"
fetch "$base/SHA256SUMS" "$tmp/SHA256SUMS" ||
  fail "could not download $base/SHA256SUMS; refusing to install an executable that cannot be verified (nothing installed)"
expected="$(awk -v f="$file" '($2 == f || $2 == "*" f) { print $1; exit }' "$tmp/SHA256SUMS")"
[ -n "$expected" ] ||
  fail "SHA256SUMS at $base has no checksum for $file; refusing to install an executable that cannot be verified (nothing installed)"
fetch "$base/$file" "$tmp/$file" || fail "could not download $base/$file (nothing installed)"
actual="$(sha256 "$tmp/$file")"
[ "$actual" = "$expected" ] ||
  fail "checksum mismatch for $file: SHA256SUMS says $expected, the download is $actual; it may be corrupt or tampered with (nothing installed)"

chmod 755 "$tmp/$file"
said="$("$tmp/$file" --version 2>&1)" || fail "the downloaded $file does not run on this machine: $said (nothing installed)"

mkdir -p "$dir" || fail "cannot create $dir"
# Copy beside the target, then rename: a running stowage is never replaced by half a file.
cp "$tmp/$file" "$dir/.stowage.$$" || fail "cannot write to $dir"
mv -f "$dir/.stowage.$$" "$dir/stowage" || { rm -f "$dir/.stowage.$$"; fail "cannot write $dir/stowage"; }
printf 'Installed %s (%s, sha256 %s) to %s/stowage\n' "$said" "$file" "$actual" "$dir"

case ":${PATH:-}:" in
  *":$dir:"*) printf 'Run: stowage --help\n' ;;
  *)
    printf '%s is not on your PATH. Add it, e.g. in ~/.profile (or ~/.zshrc):\n' "$dir"
    printf "  export PATH=\"%s:\$PATH\"\n" "$dir"
    printf 'then open a new terminal and run: stowage --help\n'
    ;;
esac
