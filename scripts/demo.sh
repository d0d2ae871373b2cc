#!/usr/bin/env bash
# The main job on the embedded default: builds iotreg and its built-in check plugins, creates a
# registry from the bundled samples, imports and checks them under the default policy, prints
# what is registered, the sale-prohibition flags and the impact of the enacted law, then serves
# the HTTP API, the public product pages and the officer web UI until Ctrl-C, printing the URL
# and an officer token to sign in with.
# Usage: scripts/demo.sh [database path]   (default: build/demo.db, recreated each run)
# IOTREG_LISTEN sets the address (default 127.0.0.1:8080).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh
build_dir=${IOTREG_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -DIOTREG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j2 --target iotreg
iotreg="$build_dir/iotreg"

db=${1:-$build_dir/demo.db}
# The evaluation date samples/README.md states its expected outcomes for.
as_of=${IOTREG_AS_OF:-2026-11-29}
rm -f "$db" "$db-wal" "$db-shm"
echo "== Importing the samples into $db, checked under the default policy (dcms-2019)"
echo "   as of $as_of; some records are malformed on purpose"
status=0
"$iotreg" --db "$db" --as-of "$as_of" import --report "$build_dir/demo-import-report.json" \
  samples/0* || status=$?
if [ "$status" -gt 1 ]; then
  exit "$status"
fi
echo
echo "== Registered products, with their status and sale-prohibition flag"
"$iotreg" --db "$db" products
echo
echo "== Sale-prohibition flags raised for officers to confirm or dismiss"
"$iotreg" --db "$db" flags --state raised
echo
echo "== A product whose second declaration shortened its support period"
"$iotreg" --db "$db" show "$("$iotreg" --db "$db" products --search OQ65 --json |
  python3 -c 'import json,sys; print(json.loads(sys.stdin.readline())["id"])')"
echo
echo "== Impact preview: what the enacted law (psti-2023) would change, nothing stored"
"$iotreg" --db "$db" --as-of "$as_of" --policy psti-2023 check --dry-run
echo
echo "Row-level import report: $build_dir/demo-import-report.json"
echo "Explore: $iotreg --db $db show ID | products --status non_compliant | flags | plugins"
echo
listen=${IOTREG_LISTEN:-127.0.0.1:8080}
token=$("$iotreg" --db "$db" token create --role officer --name "Demo Officer" | tail -n 1)
echo "== The officer web UI and the HTTP API: open http://$listen/ and sign in with this"
echo "   officer token (the API takes it as 'Authorization: Bearer <token>'):"
echo
echo "   $token"
echo
echo "   A product's public page, the target of its label's QR code: http://$listen/public/products/1"
echo "   Stop the server with Ctrl-C."
exec "$iotreg" --db "$db" --as-of "$as_of" serve --listen "$listen"
