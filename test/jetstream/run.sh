#!/usr/bin/env bash
# run.sh - the JetStream layer (npm script `test:jetstream`): installs nats-server when needed
# (scripts/nats/install.sh: Debian trixie's .deb through a private apt sources list, unpacked
# into .nats-cache/), then runs test/jetstream/*.test.ts, which start a real 3-node cluster on
# 127.0.0.1 (scripts/nats/cluster.mjs, `sync_interval: always`) in a temporary directory. The
# cluster is stopped by PID at the end, and again by this script's exit trap whatever happened.
#
# Exit status: mocha's (0 green). Without a usable nats-server the run FAILS with the reason,
# except when not root (apt cannot fetch one): then it prints "jetstream: SKIPPED (<reason>)"
# and exits 0. The last line on stdout is the summary:
#   jetstream: <N> acknowledged ops checked, <K> node kills, <V> violations
# Env: NATS_SERVER_BIN (use that nats-server >= 2.10), JETSTREAM_KEEP=1 (keep the temp dir).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
cd "$REPO"
node scripts/ensure-deps.mjs

if ! BIN=$(scripts/nats/install.sh); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "jetstream: SKIPPED (no nats-server >= 2.10 and not root, so apt cannot fetch one; set NATS_SERVER_BIN)"
    exit 0
  fi
  echo "jetstream: FAILED: could not install nats-server (see the messages above); the JetStream layer cannot run" >&2
  echo "jetstream: 0 acknowledged ops checked, 0 node kills, 1 violations (no cluster)"
  exit 1
fi
export NATS_SERVER_BIN=$BIN

DIR=$(mktemp -d "${TMPDIR:-/tmp}/rl-jetstream.XXXXXX")
export JETSTREAM_CLUSTER_DIR=$DIR
cleanup() {
  node scripts/nats/cluster.mjs stop "$DIR/cluster" || true
  if [ -z "${JETSTREAM_KEEP:-}" ]; then rm -rf "$DIR"; else echo "jetstream: kept $DIR" >&2; fi
}
trap cleanup EXIT

start=$SECONDS
set +e
node_modules/.bin/mocha --import=tsx --timeout 60000 "test/jetstream/**/*.test.ts"
rc=$?
set -e
echo "jetstream: run.sh finished in $((SECONDS - start))s with exit status $rc ($("$BIN" --version))" >&2
if [ -f "$DIR/summary.txt" ]; then
  cat "$DIR/summary.txt"
else
  echo "jetstream: 0 acknowledged ops checked, 0 node kills, 1 violations (the run did not finish)"
  [ "$rc" -ne 0 ] || rc=1
fi
exit "$rc"
