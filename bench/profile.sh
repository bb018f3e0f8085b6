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
npx tsc -p tsconfig.test.json --noEmit false --outDir "$build" --sourceMap --declaration false
# The wire codec loads proto/ relative to its own module.
ln -sfn "$root/proto" "$build/proto"
node --cpu-prof --cpu-prof-dir="$prof" "$build/bench/main.js" --only "$only" --out "$prof/results" "$@"
for f in "$prof"/*.cpuprofile; do
  node --import tsx bench/profile-summary.ts "$f" --top "${TOP:-25}"
done
echo "profiles kept in $prof (open them in Chrome DevTools > Performance for flame graphs)"
