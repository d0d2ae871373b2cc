#!/usr/bin/env bash
# The main job on the embedded default: builds iotreg, creates a registry from the bundled
# samples, imports them and prints what is registered.
# Usage: scripts/demo.sh [database path]   (default: build/demo.db, recreated each run)
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
build_dir=${IOTREG_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DIOTREG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j2 --target iotreg
iotreg="$build_dir/iotreg"

db=${1:-$build_dir/demo.db}
rm -f "$db" "$db-wal" "$db-shm"
echo "== Importing the samples into $db (some records are malformed on purpose)"
status=0
"$iotreg" --db "$db" import --report "$build_dir/demo-import-report.json" samples/0* || status=$?
if [ "$status" -gt 1 ]; then
  exit "$status"
fi
echo
echo "== Registered products"
"$iotreg" --db "$db" products
echo
echo "== A product with two declaration versions"
"$iotreg" --db "$db" products --search LV-C210 --json
echo
echo "Row-level import report: $build_dir/demo-import-report.json"
echo "Explore: $iotreg --db $db show ID | products --search WORDS | products --json"
