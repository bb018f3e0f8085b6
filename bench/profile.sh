#!/usr/bin/env bash
# Profiles bench scenarios with V8's sampling profiler and prints the hot spots with exact
# TypeScript file:line (the bench is built with source maps first; tsx hides line numbers).
#
#   bench/profile.sh record-small-ops [more scenarios, comma-separated] [extra bench options]
#   e.g. bench/profile.sh playback-throughput --quick
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
only="${1:?usage: bench/profile.sh SCENARIO[,SCENARIO...] [bench options]}"
shift
build="$root/node_modules/.bench-build"
prof="${PROFILE_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/recoverylog-prof-XXXXXX")}"
node scripts/ensure-deps.mjs
rm -rf "$build"
if ! npx tsc -p tsconfig.test.json --noEmit false --outDir "$build" --sourceMap --declaration false; then
  # tsc still emits JavaScript for a tree with type errors (e.g. someone's work in progress in a
  # test): profile that rather than nothing, but say so.
  echo "profile.sh: type errors above; profiling the JavaScript tsc emitted anyway" >&2
fi
if [ ! -f "$build/bench/main.js" ]; then
  echo "profile.sh: tsc emitted no $build/bench/main.js" >&2
  exit 1
fi
# The wire codec loads proto/ relative to its own module; bench modules import scripts/*.mjs
# (not compiled by tsc) relative to theirs.
ln -sfn "$root/proto" "$build/proto"
[ -e "$build/scripts" ] || ln -s "$root/scripts" "$build/scripts"
node --cpu-prof --cpu-prof-dir="$prof" "$build/bench/main.js" --only "$only" --out "$prof/results" "$@"
for f in "$prof"/*.cpuprofile; do
  node --import tsx bench/profile-summary.ts "$f" --top "${TOP:-25}"
done
echo "profiles kept in $prof (open them in Chrome DevTools > Performance for flame graphs)"
