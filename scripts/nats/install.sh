#!/usr/bin/env bash
# install.sh - puts a nats-server that supports `sync_interval` (>= 2.10) into the project-local
# cache and prints its path on stdout.
#
#   scripts/nats/install.sh            # prints e.g. /repo/.nats-cache/bin/nats-server
#
# Order: $NATS_SERVER_BIN if set; the cached binary; a nats-server >= 2.10 on PATH; else the
# Debian trixie .deb, fetched by apt with a PRIVATE sources list and private lists/cache
# directories under .nats-cache/apt (the system's apt sources and state are not touched), then
# unpacked with `dpkg-deb -x` (nothing is installed system-wide). Debian bookworm's own
# nats-server (2.9.10) rejects `sync_interval`, hence trixie's 2.10.x.
# Exit status: 0 with the path on stdout; 1 with the reason on stderr.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
CACHE=${NATS_CACHE_DIR:-$REPO/.nats-cache}
MIN_MINOR=10

log() { echo "[nats-install] $*" >&2; }

# Prints the binary's version as "MAJOR MINOR PATCH", or nothing.
version_of() {
  "$1" --version 2>/dev/null | sed -n 's/.*v\([0-9][0-9]*\)\.\([0-9][0-9]*\)\.\([0-9][0-9]*\).*/\1 \2 \3/p' | head -1
}

usable() {
  local bin=$1 v
  [ -x "$bin" ] || return 1
  v=$(version_of "$bin")
  [ -n "$v" ] || return 1
  set -- $v
  [ "$1" -gt 2 ] || { [ "$1" -eq 2 ] && [ "$2" -ge "$MIN_MINOR" ]; }
}

if [ -n "${NATS_SERVER_BIN:-}" ]; then
  if usable "$NATS_SERVER_BIN"; then echo "$NATS_SERVER_BIN"; exit 0; fi
  log "NATS_SERVER_BIN=$NATS_SERVER_BIN is not an executable nats-server >= 2.$MIN_MINOR"
  exit 1
fi

CACHED=$CACHE/bin/nats-server
if usable "$CACHED"; then echo "$CACHED"; exit 0; fi

if command -v nats-server >/dev/null 2>&1 && usable "$(command -v nats-server)"; then
  command -v nats-server
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg-deb >/dev/null 2>&1; then
  log "no nats-server >= 2.$MIN_MINOR found and no apt-get/dpkg-deb to fetch one;"
  log "install nats-server 2.10+ and set NATS_SERVER_BIN=/path/to/nats-server"
  exit 1
fi

KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg
[ -r "$KEYRING" ] || { log "missing $KEYRING (package debian-archive-keyring)"; exit 1; }

APT=$CACHE/apt
mkdir -p "$APT/lists/partial" "$APT/archives/partial" "$APT/debs" "$CACHE/bin"
cat >"$APT/sources.list" <<SOURCES
deb [signed-by=$KEYRING] http://deb.debian.org/debian trixie main
SOURCES
APT_OPTS=(
  -o "Dir::Etc::sourcelist=$APT/sources.list"
  -o "Dir::Etc::sourceparts=-"
  -o "Dir::State::Lists=$APT/lists"
  -o "Dir::Cache=$APT"
  -o "Dir::Cache::archives=$APT/archives"
  -o "Dir::Cache::pkgcache="
  -o "Dir::Cache::srcpkgcache="
  -o "APT::Get::List-Cleanup=0"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)
log "fetching the Debian trixie package index (private apt state in $APT)"
if ! apt-get "${APT_OPTS[@]}" -qq update >&2; then
  log "apt-get update of the private trixie sources failed (no network to Debian's archive?)"
  exit 1
fi
rm -f "$APT/debs/"nats-server_*.deb
if ! (cd "$APT/debs" && apt-get "${APT_OPTS[@]}" -qq download nats-server >&2); then
  log "apt-get download nats-server (trixie) failed"
  exit 1
fi
DEB=$(ls "$APT/debs/"nats-server_*.deb | head -1)
log "unpacking $(basename "$DEB")"
rm -rf "$APT/root"
dpkg-deb -x "$DEB" "$APT/root"
BIN=$(find "$APT/root" -type f -name nats-server -perm -u+x | head -1)
[ -n "$BIN" ] || { log "no nats-server executable inside $(basename "$DEB")"; exit 1; }
cp "$BIN" "$CACHED.tmp"
chmod 0755 "$CACHED.tmp"
mv "$CACHED.tmp" "$CACHED"
if ! usable "$CACHED"; then
  log "the unpacked $CACHED is not a working nats-server >= 2.$MIN_MINOR ($("$CACHED" --version 2>&1 | head -1))"
  exit 1
fi
log "installed $("$CACHED" --version 2>&1 | head -1) as $CACHED"
echo "$CACHED"
