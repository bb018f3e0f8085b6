#!/bin/bash
# run.sh - the dm-flakey power-cut test (npm script `test:dmflakey`): boots the VM (vm.sh) and
# runs powercut.ts inside it, against a real dm-flakey device.
#
#   test/crash/dmflakey/run.sh
#
# Env: DMFLAKEY_CUTS (fault cycles over all rounds, default 68: 61 power cuts + 7 error_writes windows), DMFLAKEY_SEED (repeat a run's
# choices), DMFLAKEY_FRAGMENT_BYTES (the journal's roll size, 4096), DMFLAKEY_PRUNE
# (between|beside|off), DMFLAKEY_AVOID_KNOWN_BUGS=1, DMFLAKEY_CORRUPT_PROBABILITY (highest share
# of corrupted write bios in the corruption round, 0.2), DMFLAKEY_SEEDED_NO_SYNC=1 (seeded bug:
# journals never sync; the run must fail), plus vm.sh's knobs (DMFLAKEY_SKIP_EXIT,
# DMFLAKEY_KEEP_JOB, DMFLAKEY_TIMEOUT, DMFLAKEY_KERNEL_META, ...). See README.md.
# Exit status: the driver's (0 pass, 1 violations or unclean fsck, 2 harness error), 3 when the
# VM failed; a machine that cannot run the VM prints "dmflakey: SKIPPED (<reason>)" and exits
# with $DMFLAKEY_SKIP_EXIT (default 0). The driver's summary line
#   dmflakey: <cuts> power cuts, <ops> acknowledged ops checked, <v> violations
# is the last line on stdout.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
export DMFLAKEY_CUTS=${DMFLAKEY_CUTS:-68}
start=$SECONDS

# The guest runs this checkout's node_modules; a direct call may come before `npm ci`.
node "$REPO/scripts/ensure-deps.mjs"

# Bundle the harness (and the library it imports) into two plain JavaScript files with esbuild
# (tsx's own compiler, already in node_modules): under emulation, loading ~100 modules through
# the 9p-shared root costs 5-11 s per process, one bundle ~1.3 s, and a child starts every cut.
# Per run (concurrent runs must not share it); inside the repo so the schema path resolves.
mkdir -p "$REPO/.vm-cache"
OUT=$(mktemp -d "$REPO/.vm-cache/js.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
ESBUILD=$REPO/node_modules/.bin/esbuild
if [ -x "$ESBUILD" ]; then
  # The wire codec loads ../../proto/recorded_op.proto relative to its module: the bundles sit
  # two levels below $OUT, next to which the schema is linked.
  "$ESBUILD" "$HERE/powercut.ts" "$HERE/recorder-child.ts" --bundle --platform=node --format=esm \
    --target=node20 --outdir="$OUT/bundle/dmflakey" --out-extension:.js=.mjs --log-level=warning \
    "--banner:js=import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  DRIVER=$OUT/bundle/dmflakey/powercut.mjs
else
  # Fallback: module by module (slower start-up under emulation).
  "$REPO/node_modules/.bin/tsc" --ignoreConfig --noCheck --outDir "$OUT" --rootDir "$REPO" \
    --module nodenext --moduleResolution nodenext --target es2022 --skipLibCheck --types node \
    "$HERE/powercut.ts" "$HERE/recorder-child.ts"
  DRIVER=$OUT/test/crash/dmflakey/powercut.js
fi
ln -s "$REPO/proto" "$OUT/proto"

set +e
"$HERE/vm.sh" -- node "$DRIVER"
rc=$?
set -e
echo "dmflakey: run.sh finished in $((SECONDS - start))s with exit status $rc" >&2
exit "$rc"
