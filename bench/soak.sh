#!/usr/bin/env bash
# Load-and-fault suite: bench/soak.py against `iotreg serve` and `iotreg import` on a registry of
# generated products (see bench/README.md, "Soak"). Exits 1 when any check failed.
# Usage: bench/soak.sh [--short] [--postgresql]
#   --short       the run the test command makes (about a minute): 5,000 products, 40 s of
#                 load, 8 kills; its figures are printed, not written
#   default       the long run: 50,000 products, 10 minutes of load, 40 kills; its figures are
#                 written into bench/README.md
#   --postgresql  the registry is a database on a throwaway PostgreSQL cluster
#                 (tests/postgresql/cluster.sh) that the script starts, and stops when it
#                 exits, instead of an SQLite file; the long run writes its own table
# Environment: IOTREG_BUILD_DIR (default build), SOAK_LOAD_SECONDS, SOAK_KILLS, SOAK_PRODUCTS.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
mode=long
backend=sqlite
for argument in "$@"; do
  case $argument in
    --short) mode=short ;;
    --postgresql) backend=postgresql ;;
    *) echo "usage: bench/soak.sh [--short] [--postgresql]" >&2; exit 2 ;;
  esac
done
if [ "$mode" = short ]; then
  products=${SOAK_PRODUCTS:-5000} load=${SOAK_LOAD_SECONDS:-40} kills=${SOAK_KILLS:-8}
else
  products=${SOAK_PRODUCTS:-50000} load=${SOAK_LOAD_SECONDS:-600} kills=${SOAK_KILLS:-40}
fi
build=${IOTREG_BUILD_DIR:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
scripts/setup.sh
cmake -S . -B "$build" -DIOTREG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target iotreg >/dev/null
work="$root/bench/out/soak-$mode"
on_backend=()
section=soak
if [ "$backend" = postgresql ]; then
  work="$work-postgresql"
  section=soak-postgresql
  cluster="$work/cluster"
  bash tests/postgresql/cluster.sh start "$cluster"
  trap 'bash tests/postgresql/cluster.sh stop "$cluster"' EXIT
  on_backend=(--postgresql "$cluster/uri")
fi
mkdir -p "$work"
cp /proc/loadavg "$work/loadavg"
status=0
python3 bench/soak.py --iotreg "$build/iotreg" --work "$work" --products "$products" \
  --load-seconds "$load" --kills "$kills" --json "$work/summary.json" "${on_backend[@]}" \
  >"$work/summary.txt" || status=$?
[ "$mode" = short ] && { cat "$work/summary.txt"; exit "$status"; }

result=$(python3 - "$work" "$(nproc)" <<'PY'
import datetime, json, sys
from pathlib import Path
work = Path(sys.argv[1])
s = json.loads((work / "summary.json").read_text())
load = (work / "loadavg").read_text().split()[0]
c = lambda key: s.get(key, 0)
where = {"sqlite": "an SQLite file",
         "postgresql": "a PostgreSQL database (the tests' throwaway cluster, fsync off)"}
print(f"Measured {datetime.date.today()} on {sys.argv[2]} cores (1-minute load average {load} "
      f"before the run): a registry of {s['products']:,} products in {where[s['backend']]}, "
      f"{s['load_seconds']:.0f} s of load, {c('server_kills') + c('import_kills')} kills; the "
      f"whole run took {s['total_seconds']:.0f} s.")
print()
print("| | measured | target |")
print("|---|---|---|")
print(f"| API reads (8 clients, keep-alive, 10 s deadline each) | {c('reads'):,} | |")
print(f"| API imports (a manufacturer's 1 or 25 records each) | {c('api_imports'):,} | |")
print(f"| CLI imports of 40 records into the served registry | {c('cli_imports'):,} | |")
print(f"| flag actions (confirm, dismiss; 409 when another got there first) | {c('flag_actions'):,} | |")
print(f"| idle sockets held open / slow senders | {c('idle_sockets'):,} / 100 | |")
print(f"| stuck requests (no answer by the deadline) | {c('stuck')} | 0 |")
print(f"| 5xx replies | {c('5xx')} | 0 |")
print(f"| slowest /healthz (1 s deadline, every 200 ms) | {s['health_worst_ms']:.0f} ms | < 1,000 ms |")
print(f"| SIGTERM under load to exit | {c('sigterm_seconds')} s | within the grace period (10 s) |")
print(f"| kill -9 of the server during an API import / of a CLI import | {c('server_kills')} / {c('import_kills')} | |")
print(f"| after a kill: import stored whole / rolled back whole / in part | {c('kill_stored')} / {c('kill_rolled_back')} / 0 | in part: 0 |")
checks = c('load_checks') + c('kill_checks') + c('disk_checks')
kinds = "audit verify, no product lost or duplicated, imports all or nothing"
kinds = (f"integrity_check, {kinds}" if s["backend"] == "sqlite"
         else f"{kinds}; integrity_check {s['integrity_check']}")
print(f"| consistency checks ({kinds}) failed | {c('consistency_failures')} of {checks} | 0 |")
print(f"| full disk (3 MB tmpfs) | {s.get('disk', 'not run')} | 503 with Retry-After, never 500 |")
print(f"| failures | {len(s['failures'])} | 0 |")
for failure in s["failures"][:10]:
    print(f"\n- {failure}")
PY
)
python3 bench/write_results.py "$section" "$result"
echo "$result"
exit "$status"
