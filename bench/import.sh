#!/usr/bin/env bash
# Import benchmark: `iotreg import` against `sqlite3 .import` of the same CSV into a bare table
# (the raw-load floor) and against `sqlite-utils insert`, all in one run, plus iotreg's peak
# memory at several file sizes. Writes the results into bench/README.md.
# Usage: bench/import.sh [N]    (default 1000000 declarations; sizes N/4, N/2, N for memory)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-1000000}
generator="$root/../shared/bench/gen_declarations.py"
out="$root/bench/out"
mkdir -p "$out"

scripts/setup.sh sqlite-utils time
cmake -S . -B build -DIOTREG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target iotreg >/dev/null
iotreg="$root/build/iotreg"

csv_for() {  # generates (once) and prints the path of a CSV with $1 declarations
  local file="$out/declarations-$1.csv"
  [ -s "$file" ] || python3 "$generator" "$1" csv 1 >"$file"
  echo "$file"
}

# Runs a command under GNU time; prints "seconds peak_kib".
measure() {
  local log="$out/time.log"
  /usr/bin/time -f '%e %M' -o "$log" "$@" >/dev/null 2>"$out/stderr.log" || {
    local status=$?
    # iotreg exits 1 when records are rejected; anything else is a failure.
    [ "$status" -eq 1 ] || { cat "$out/stderr.log" >&2; exit "$status"; }
  }
  tail -n 1 "$log"
}

fresh() { rm -f "$1" "$1-wal" "$1-shm" "$1-journal"; }

big=$(csv_for "$n")
db="$out/bench.db"

fresh "$db"; read -r t_sqlite m_sqlite < <(measure sqlite3 "$db" -cmd ".mode csv" ".import $big declarations")
fresh "$db"; read -r t_iotreg m_iotreg < <(measure "$iotreg" --db "$db" import --quiet "$big")
records=$(sqlite3 "$db" "SELECT count(*) FROM declaration_versions")
fresh "$db"; read -r t_utils m_utils < <(measure sqlite-utils insert "$db" declarations "$big" --csv)
fresh "$db"

memory_rows=""
for size in $((n / 4)) $((n / 2)) "$n"; do
  file=$(csv_for "$size")
  fresh "$db"; read -r t m < <(measure "$iotreg" --db "$db" import --quiet "$file")
  memory_rows+="| $size | $t | $((m / 1024)) |"$'\n'
done
fresh "$db"

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
result=$(cat <<MD
Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $n declarations ($(du -h "$big" | cut -f1) CSV), $records stored.

| tool | seconds | peak RSS (MiB) | iotreg time ÷ tool time | target |
|---|---|---|---|---|
| \`iotreg import\` | $t_iotreg | $((m_iotreg / 1024)) | 1.00 | RSS ≤ 200 MiB |
| \`sqlite3 .import\` (bare table) | $t_sqlite | $((m_sqlite / 1024)) | $(ratio "$t_iotreg" "$t_sqlite") | ≤ 2.0 |
| \`sqlite-utils insert\` | $t_utils | $((m_utils / 1024)) | $(ratio "$t_iotreg" "$t_utils") | ≤ 0.10 (10x faster) |

iotreg peak memory as the file grows:

| declarations | seconds | peak RSS (MiB) |
|---|---|---|
$memory_rows
MD
)
python3 bench/write_results.py import "$result"
echo "$result"
