#!/usr/bin/env bash
# PostgreSQL import benchmark: `iotreg import` of N generated declarations into a registry in
# PostgreSQL, against PostgreSQL's own COPY of the same CSV into a bare table of text columns
# (the raw-load floor), in one run on one throwaway cluster (tests/postgresql/cluster.sh), and
# the same import into SQLite for comparison. Writes the results into bench/README.md.
# Usage: bench/import_postgresql.sh [N]   (default 1000000; IOTREG_BUILD_DIR: the build dir)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-1000000}
generator="$root/../shared/bench/gen_declarations.py"
out="$root/bench/out"
mkdir -p "$out"
build_dir=${IOTREG_BUILD_DIR:-build}

scripts/setup.sh time
cmake -S . -B "$build_dir" -DIOTREG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j2 --target iotreg >/dev/null
iotreg="$(cd "$build_dir" && pwd)/iotreg"

csv="$out/declarations-$n.csv"
[ -s "$csv" ] || python3 "$generator" "$n" csv 1 >"$csv"

cluster="$out/postgresql-cluster"
bash tests/postgresql/cluster.sh start "$cluster"
trap 'bash tests/postgresql/cluster.sh stop "$cluster"' EXIT
server=$(cat "$cluster/uri")
database() {  # a fresh database; prints its URI
  psql "$server" -qc "DROP DATABASE IF EXISTS $1" -c "CREATE DATABASE $1" >/dev/null 2>&1
  echo "${server/\/postgres\?//$1?}"
}

# Seconds a command takes (GNU time); iotreg exits 1 when records are rejected.
seconds() {
  /usr/bin/time -f '%e' -o "$out/time.log" "$@" >/dev/null 2>"$out/stderr.log" || {
    local status=$?
    [ "$status" -eq 1 ] || { cat "$out/stderr.log" >&2; exit "$status"; }
  }
  tail -n 1 "$out/time.log"
}

columns=$(head -n 1 "$csv" | python3 -c \
  "import sys; print(', '.join('\"' + c + '\" text' for c in sys.stdin.read().strip().split(',')))")
bare=$(database bench_copy)
psql "$bare" -qc "CREATE TABLE declarations ($columns)"
t_copy=$(seconds psql "$bare" -qc "\\copy declarations FROM '$csv' WITH (FORMAT csv, HEADER true)")
registry=$(database bench_registry)
t_pg=$(seconds "$iotreg" --db "$registry" import --quiet "$csv")
stored=$(psql "$registry" -Atc "SELECT count(*) FROM declaration_versions")
rm -f "$out/bench.db" "$out/bench.db-wal" "$out/bench.db-shm"
t_sqlite=$(seconds "$iotreg" --db "$out/bench.db" import --quiet "$csv")
rm -f "$out/bench.db" "$out/bench.db-wal" "$out/bench.db-shm"

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
result=$(cat <<MD
Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $n declarations ($(du -h "$csv" | cut -f1) CSV),
$stored stored; PostgreSQL $(psql "$server" -Atc "SHOW server_version") on a Unix socket, the
throwaway cluster of the tests (fsync off).

| load | seconds | ÷ PostgreSQL COPY | target |
|---|---|---|---|
| PostgreSQL \`COPY\` into a bare table of text columns | $t_copy | 1.00 | |
| \`iotreg import\` into PostgreSQL | $t_pg | $(ratio "$t_pg" "$t_copy") | ≤ 2.0 |
| \`iotreg import\` into SQLite, for comparison | $t_sqlite | $(ratio "$t_sqlite" "$t_copy") | |
MD
)
python3 bench/write_results.py import-postgresql "$result"
echo "$result"
