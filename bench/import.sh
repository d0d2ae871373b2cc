#!/usr/bin/env bash
# Import benchmark: `iotreg import` against `sqlite3 .import` of the same CSV into a bare table
# (the raw-load floor) and against `sqlite-utils insert`, all in one run, plus iotreg's peak
# memory at several file sizes. Writes the results into bench/README.md.
# With --against REV it instead builds iotreg at git revision REV (in bench/out, from a
# worktree) and times both builds on the same file in alternating runs: the regression check of
# a change.
# Usage: bench/import.sh [N] [--against REV]
#   (default 1000000 declarations; sizes N/4, N/2, N for memory; IOTREG_BUILD_DIR: build dir)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=1000000
against=""
while [ $# -gt 0 ]; do
  case "$1" in
    --against) against=$2; shift 2 ;;
    *) n=$1; shift ;;
  esac
done
generator="$root/../shared/bench/gen_declarations.py"
out="$root/bench/out"
mkdir -p "$out"
build_dir=${IOTREG_BUILD_DIR:-build}

scripts/setup.sh sqlite-utils time
cmake -S . -B "$build_dir" -DIOTREG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" -j2 --target iotreg >/dev/null
iotreg="$(cd "$build_dir" && pwd)/iotreg"

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

if [ -n "$against" ]; then
  # The same file imported by both builds, alternately, three times each; medians compared.
  revision=$(git rev-parse --short "$against")
  source_tree="$out/against-$revision"
  [ -d "$source_tree" ] || git worktree add --detach "$source_tree" "$revision" >/dev/null
  cmake -S "$source_tree" -B "$source_tree/build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$source_tree/build" -j2 --target iotreg >/dev/null
  baseline="$source_tree/build/iotreg"
  times_now=(); times_then=()
  for _ in 1 2 3; do
    fresh "$db"; read -r t _ < <(measure "$baseline" --db "$db" import --quiet "$big")
    times_then+=("$t")
    fresh "$db"; read -r t _ < <(measure "$iotreg" --db "$db" import --quiet "$big")
    times_now+=("$t")
  done
  fresh "$db"
  median() { printf '%s\n' "$@" | sort -n | sed -n 2p; }
  now=$(median "${times_now[@]}"); then_=$(median "${times_then[@]}")
  head_revision=$(git rev-parse --short HEAD)
  against_result=$(cat <<MD
Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $n declarations, each build three times in
alternating runs on the same file (checks on, default policy).

| build | runs (seconds) | median | ÷ $revision | target |
|---|---|---|---|---|
| $revision (before) | ${times_then[*]} | $then_ | 1.00 | |
| $head_revision (this tree) | ${times_now[*]} | $now | $(python3 -c "print(f'{$now / $then_:.2f}')") | ≤ 1.10 |
MD
)
  python3 bench/write_results.py import-against "$against_result"
  echo "$against_result"
  exit 0
fi

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
# A dry run with no registry yet runs on an empty temporary one: its memory as the real run's.
fresh "$db"; read -r t_dry m_dry < <(measure "$iotreg" --db "$db" import --quiet --dry-run "$big")
[ ! -e "$db" ] || { echo "the dry run created $db" >&2; exit 1; }

ratio() { python3 -c "print(f'{$1 / $2:.2f}')"; }
result=$(cat <<MD
Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $n declarations ($(du -h "$big" | cut -f1) CSV), $records stored.

| tool | seconds | peak RSS (MiB) | iotreg time ÷ tool time | target |
|---|---|---|---|---|
| \`iotreg import\` | $t_iotreg | $((m_iotreg / 1024)) | 1.00 | RSS ≤ 200 MiB |
| \`sqlite3 .import\` (bare table) | $t_sqlite | $((m_sqlite / 1024)) | $(ratio "$t_iotreg" "$t_sqlite") | ≤ 1.5 |
| \`sqlite-utils insert\` | $t_utils | $((m_utils / 1024)) | $(ratio "$t_iotreg" "$t_utils") | ≤ 0.10 (10x faster) |

iotreg peak memory as the file grows:

| declarations | seconds | peak RSS (MiB) |
|---|---|---|
$memory_rows| $n, \`--dry-run\` with no registry yet | $t_dry | $((m_dry / 1024)) |
MD
)
python3 bench/write_results.py import "$result"
echo "$result"
