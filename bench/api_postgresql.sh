#!/usr/bin/env bash
# API on PostgreSQL: product lookups and searches (as bench/api.sh sends them) against one
# `iotreg serve` on SQLite, one on PostgreSQL, and two on one PostgreSQL (each half of the load),
# on the same N generated products, in one run. Writes the results into bench/README.md.
# Usage: bench/api_postgresql.sh [N]   (default 200000 declarations)
# Environment: IOTREG_BUILD_DIR (default build), API_BENCH_DURATION (wrk -d, default 15s).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-200000}
duration=${API_BENCH_DURATION:-15s}
connections=64
as_of=2026-11-29
search_words=("Brand1042" "Brand42" "camera" "router" "smart lock")
build=${IOTREG_BUILD_DIR:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
out="$root/bench/out"
work="$out/api-postgresql"
rm -rf "$work"
mkdir -p "$work"

scripts/setup.sh wrk curl
cmake -S . -B "$build" -DIOTREG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target iotreg >/dev/null
iotreg="$build/iotreg"
csv="$out/declarations-$n.csv"
[ -s "$csv" ] || python3 "$root/../shared/bench/gen_declarations.py" "$n" csv 1 >"$csv"

cluster="$work/cluster"
bash tests/postgresql/cluster.sh start "$cluster"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  bash tests/postgresql/cluster.sh stop "$cluster"
}
trap cleanup EXIT
server=$(cat "$cluster/uri")
psql "$server" -qc "CREATE DATABASE api_bench" >/dev/null
postgresql="${server/\/postgres\?//api_bench?}"
sqlite="$work/api.db"

tokens=()
for db in "$sqlite" "$postgresql"; do
  echo "api_postgresql: importing $n declarations into $db" >&2
  "$iotreg" --db "$db" --as-of "$as_of" import --quiet "$csv" >/dev/null 2>"$work/import.log" ||
    [ $? -eq 1 ] || { cat "$work/import.log" >&2; exit 1; }
  tokens+=("$("$iotreg" --db "$db" token create --role officer --name "Bench Officer" | tail -1)")
done

# The state a registry settles in after a bulk import: autovacuum would otherwise run its first
# pass over the new rows (and merge the search index's pending entries) in the middle of a row.
psql "$postgresql" -qc "VACUUM ANALYZE" >/dev/null

# Lookups of 1000 ids spread over the registry (ids are equal in both: the same import), and
# the searches.
python3 -c '
import sys
n = int(sys.argv[1])
for i in range(1000): print(f"/api/v1/products/{1 + i * n // 1000}")' "$n" >"$work/lookups.paths"
python3 -c '
import sys, urllib.parse
for words in sys.argv[1:]:
    print(f"/api/v1/products?q={urllib.parse.quote(words)}&limit=20")' "${search_words[@]}" \
  >"$work/searches.paths"

# Every server runs 16 worker threads: on PostgreSQL each busy worker holds a backend, and 64 of
# them per server (128 for two) only queue on the two cores, which measured fewer requests/s and
# replies stalled for seconds (bench/README.md); SQLite's server gets the same.
serve() {  # db log: starts a server, prints its port
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  "$iotreg" --db "$1" --as-of "$as_of" serve --listen "127.0.0.1:$port" --threads 16 >"$2" 2>&1 &
  pids+=($!)
  for _ in $(seq 600); do
    curl -fs -o /dev/null "http://127.0.0.1:$port/healthz" && { echo "$port"; return; }
    sleep 0.1
  done
  echo "api_postgresql: the server did not start" >&2
  cat "$2" >&2
  exit 1
}
sqlite_port=$(serve "$sqlite" "$work/serve-sqlite.log")
pg_port=$(serve "$postgresql" "$work/serve-pg1.log")
pg2_port=$(serve "$postgresql" "$work/serve-pg2.log")

load() {  # name kind token port...: wrk against each port at once, the connections shared out
  local name=$1 kind=$2 token=$3
  shift 3
  local each=$((connections / $#)) i=0 wrks=()
  for port in "$@"; do
    wrk -t"$each" -c"$each" -d"$duration" --latency -s bench/api_requests.lua \
      "http://127.0.0.1:$port" -- "$work/$kind.paths" "$token" 2 \
      >"$work/wrk-$name-$kind-$i.txt" 2>&1 &
    wrks+=($!)
    i=$((i + 1))
  done
  for pid in "${wrks[@]}"; do wait "$pid"; done
}
for kind in lookups searches; do
  echo "api_postgresql: $kind" >&2
  load sqlite "$kind" "${tokens[0]}" "$sqlite_port"
  load postgresql "$kind" "${tokens[1]}" "$pg_port"
  load postgresql2 "$kind" "${tokens[1]}" "$pg_port" "$pg2_port"
done

result=$(python3 - "$work" "$n" "$(nproc)" "$duration" <<'PY'
import datetime, json, sys
from pathlib import Path
work, n, cores, duration = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]

def figures(name, kind):
    requests = seconds = 0.0
    p99 = 0.0
    errors = 0
    for path in sorted(work.glob(f"wrk-{name}-{kind}-*.txt")):
        line = [l for l in path.read_text().splitlines() if l.startswith("api-bench-result ")]
        if len(line) != 1:
            sys.exit(f"{path}: no result line:\n{path.read_text()}")
        r = json.loads(line[0].split(" ", 1)[1])
        requests += r["requests"]
        seconds = max(seconds, r["duration_us"] / 1e6)
        p99 = max(p99, r["p99_us"] / 1000)
        errors += r["non2xx"] + r["stuck_connections"] + sum(
            r[f"errors_{k}"] for k in ("connect", "read", "write", "timeout"))
    return requests / seconds, p99, errors

rows = []
base = {kind: figures("sqlite", kind)[0] for kind in ("lookups", "searches")}
for name, label in (("sqlite", "one server, SQLite"), ("postgresql", "one server, PostgreSQL"),
                    ("postgresql2", "two servers, one PostgreSQL")):
    cells = []
    for kind in ("lookups", "searches"):
        rps, p99, errors = figures(name, kind)
        cells.append(f"{rps:,.0f} | {p99:.1f} | {rps / base[kind]:.2f} | {errors}")
    rows.append(f"| {label} | " + " | ".join(cells) + " |")
print(f"Measured {datetime.date.today()} on {cores} cores, {n} products, wrk with 64 "
      f"connections for {duration} per row (shared out between the servers of a row), the "
      f"servers, PostgreSQL and wrk on one machine. Lookups: 1000 ids spread over the registry; "
      f"searches: the five of bench/api.sh.\n")
print("| servers | lookups/s | p99 ms | ÷ SQLite | errors | searches/s | p99 ms | ÷ SQLite | errors |")
print("|---|---|---|---|---|---|---|---|---|")
print("\n".join(rows))
PY
)
python3 bench/write_results.py api-postgresql "$result"
echo "$result"
