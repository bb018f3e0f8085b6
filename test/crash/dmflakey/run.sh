#!/bin/bash
# run.sh - the dm-flakey power-cut test (npm script `test:dmflakey`): boots the VM (vm.sh) and
# runs journal-powercut.ts inside it, against a real dm-flakey device.
#
#   test/crash/dmflakey/run.sh
#
# Env: DMFLAKEY_CUTS (fault cycles over all rounds, default 30), DMFLAKEY_SEED (repeat a run's
# choices), DMFLAKEY_WORKLOAD (file-journal, default; plain-file = a stand-in journal),
# DMFLAKEY_STANDIN_SKIP_SYNC=1 (seeded bug in the stand-in: must make the run fail), plus vm.sh's
# knobs (DMFLAKEY_SKIP_EXIT, DMFLAKEY_KEEP_JOB, DMFLAKEY_TIMEOUT, ...).
# Exit status: the driver's (0 pass, 1 violations or unclean fsck, 2 harness error), 3 when the
# VM failed; a machine that cannot run the VM prints "dmflakey: SKIPPED (<reason>)" and exits
# with $DMFLAKEY_SKIP_EXIT (default 0). The driver's summary line
#   dmflakey: <cuts> power cuts, <ops> acknowledged ops checked, <v> violations
# is the last line on stdout.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
export DMFLAKEY_CUTS=${DMFLAKEY_CUTS:-30}
start=$SECONDS

# The guest runs this checkout's node_modules; a direct call may come before `npm ci`.
node "$REPO/scripts/ensure-deps.mjs"

# Compile the harness (and the journal it imports) to plain JavaScript: under emulation
# `node --import tsx` costs ~5 s more per process start than `node`, and a writer starts every cut.
# Per run (concurrent runs must not share it); inside the repo so node_modules resolves.
mkdir -p "$REPO/.vm-cache"
OUT=$(mktemp -d "$REPO/.vm-cache/js.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
"$REPO/node_modules/.bin/tsc" --ignoreConfig --noCheck --outDir "$OUT" --rootDir "$REPO" \
  --module nodenext --moduleResolution nodenext --target es2022 --skipLibCheck --types node \
  "$HERE/journal-powercut.ts" "$HERE/journal-writer.ts"

set +e
"$HERE/vm.sh" -- node "$OUT/test/crash/dmflakey/journal-powercut.js"
rc=$?
set -e
echo "dmflakey: run.sh finished in $((SECONDS - start))s with exit status $rc" >&2
exit "$rc"
