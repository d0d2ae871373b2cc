#!/usr/bin/env bash
# Checks benchmark: declaration-checks evaluated per second by the built-in check plugins under
# each shipped policy, in process and isolated (every plugin untrusted, so its checks run in a
# worker process), side by side with a reference set of seven checks that pass without looking
# (the host's own cost per check). Writes the results into bench/README.md.
# Usage: bench/checks.sh [N]   (N declarations held in memory, default 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-100000}
generator="$root/../shared/bench/gen_declarations.py"
out="$root/bench/out"
mkdir -p "$out"

scripts/setup.sh
cmake -S . -B build -DIOTREG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j2 --target iotreg iotreg_checks_bench null-checks >/dev/null
bench="$root/build/bench/iotreg_checks_bench"

csv="$out/declarations-$n.csv"
[ -s "$csv" ] || python3 "$generator" "$n" csv 1 >"$csv"
reference_policy="$out/null-reference.yaml"
{
  echo "id: null-reference"
  echo "regime: prohibition"
  echo "checks:"
  for i in 1 2 3 4 5 6 7; do echo "  null-$i: {level: mandatory}"; done
} >"$reference_policy"

run() { "$bench" "$csv" "$1" "$2" 5 ${3:+"$3"}; }
dcms=$(run "$root/build/plugins" dcms-2019)
psti=$(run "$root/build/plugins" psti-2023)
reference=$(run "$root/build/bench/null-plugin" "$reference_policy")
dcms_isolated=$(run "$root/build/plugins" dcms-2019 "$root/build/iotreg")
psti_isolated=$(run "$root/build/plugins" psti-2023 "$root/build/iotreg")
# The same, with each plugin in worker processes of its own (policy separate_workers: true).
separate_policy="$out/dcms-2019-separate-workers.yaml"
{ cat "$root/policies/dcms-2019.yaml"; echo "separate_workers: true"; } >"$separate_policy"
dcms_separate=$(run "$root/build/plugins" "$separate_policy" "$root/build/iotreg")

result=$(python3 - "$dcms" "$psti" "$reference" "$dcms_isolated" "$psti_isolated" "$dcms_separate" \
  "$n" "$(nproc)" <<'PY'
import json, sys, datetime
dcms, psti, ref, dcms_iso, psti_iso, dcms_sep = (json.loads(a) for a in sys.argv[1:7])
n, cores = sys.argv[7], sys.argv[8]
def row(name, r):
    return (f"| {name} | {r['checks']} | {r['declarations_per_second']:,.0f} | "
            f"{r['declaration_checks_per_second']:,.0f} | "
            f"{r['declaration_checks_per_second'] / ref['declaration_checks_per_second']:.2f} |")
print(f"Measured {datetime.date.today()} on {cores} cores, one thread, {n} generated declarations "
      f"held in memory ({dcms['compliant']} compliant, {dcms['non_compliant']} non-compliant "
      "under dcms-2019), judged repeatedly for at least 5 s per row.")
print()
print("| checks | per declaration | declarations/s | declaration-checks/s | ÷ reference |")
print("|---|---|---|---|---|")
print(row("built-in, dcms-2019", dcms))
print(row("built-in, psti-2023", psti))
print(row("reference: 7 checks that pass at once", ref))
print(row("built-in, dcms-2019, isolated", dcms_iso))
print(row("built-in, psti-2023, isolated", psti_iso))
print(row("built-in, dcms-2019, isolated, separate workers", dcms_sep))
print()
target = 1_000_000
best = min(dcms['declaration_checks_per_second'], psti['declaration_checks_per_second'])
print(f"Target: at least {target:,} declaration-checks per second per core: "
      f"{'met' if best >= target else 'MISSED'} ({best:,.0f}).")
print()
print("| policy | in process (declarations/s) | isolated (declarations/s) | isolated ÷ in process |")
print("|---|---|---|---|")
ratios = []
for name, inside, outside in (("dcms-2019", dcms, dcms_iso), ("psti-2023", psti, psti_iso)):
    ratio = outside['declarations_per_second'] / inside['declarations_per_second']
    ratios.append(ratio)
    print(f"| {name} | {inside['declarations_per_second']:,.0f} | "
          f"{outside['declarations_per_second']:,.0f} | {ratio:.2f} |")
print()
print(f"Target: isolated at least 50% of in-process throughput: "
      f"{'met' if min(ratios) >= 0.5 else 'MISSED'} ({min(ratios):.0%}).")
print()
print(f"With separate workers (no target; the policy's choice): dcms-2019 isolated at "
      f"{dcms_sep['declarations_per_second'] / dcms['declarations_per_second']:.2f} of in "
      "process, each of its seven plugins in two workers of its own.")
PY
)
python3 bench/write_results.py checks "$result"
echo "$result"

# The hostile mix, untrusted (its directory is not the built-in one): 2,000 declarations, 7 of
# them poison, judged by a crashing, hanging, aborting, throwing, exiting, flooding, allocating,
# forking and a 50 ms check together, against the 50 ms check alone on the same declarations.
cmake --build build -j2 --target hostile-mix >/dev/null
mix_dir="$root/build/bench/hostile-mix"
mix_csv="$out/hostile-mix-2000.csv"
python3 "$generator" 2000 csv 7 | python3 -c '
import csv, sys
rows = list(csv.reader(sys.stdin))
model = rows[0].index("product.model")
for k, behaviour in enumerate(["crash", "hang", "abort", "throw", "exit", "huge", "allocate"]):
    rows[1 + 100 + 280 * k][model] = "poison-" + behaviour
csv.writer(sys.stdout, lineterminator="\n").writerows(rows)' >"$mix_csv"
mix_policy="$out/hostile-mix.yaml"
slow_policy="$out/hostile-slow.yaml"
{
  echo "id: hostile-mix"; echo "regime: prohibition"; echo "checks:"
  for b in crash hang abort throw exit huge allocate fork slow; do
    echo "  hostile-$b: {level: mandatory}"
  done
} >"$mix_policy"
printf 'id: hostile-slow\nregime: prohibition\nchecks:\n  hostile-slow: {level: mandatory}\n' \
  >"$slow_policy"
mark="bench-$$"
timed_import() {  # $1 policy; prints "seconds statuses-json processes-left"
  rm -f "$out/hostile.db"
  local began ended report left
  began=$(date +%s.%N)
  report=$(IOTREG_TEST_MARK=$mark "$root/build/iotreg" --db "$out/hostile.db" \
    --plugins "$mix_dir" --policy "$1" --as-of 2026-12-01 import --json "$mix_csv" \
    2>"$out/hostile-stderr.log" | tail -1)
  ended=$(date +%s.%N)
  left=$({ grep -l "IOTREG_TEST_MARK=$mark" /proc/[0-9]*/environ 2>/dev/null || true; } | wc -l)
  echo "$(echo "$ended - $began" | bc) $(echo "$report" | python3 -c \
    'import json,sys; print(json.dumps(json.load(sys.stdin)["statuses"], separators=(",",":")))') $left"
}
read -r slow_seconds slow_statuses slow_left < <(timed_import "$slow_policy")
read -r mix_seconds mix_statuses mix_left < <(timed_import "$mix_policy")
deadline=1
hostile=$(python3 - "$slow_seconds" "$mix_seconds" "$mix_statuses" "$mix_left" "$deadline" <<'PY'
import json, sys
slow, mix, statuses, left, deadline = float(sys.argv[1]), float(sys.argv[2]), \
    json.loads(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
bound = 2 * (slow + 7 * deadline)
print("2,000 declarations, 7 of them poison, imported with every plugin untrusted (two shared "
      "workers, the default deadline of 1 s a check and declaration).")
print()
print("| run | seconds |")
print("|---|---|")
print(f"| the 50 ms check alone (reference) | {slow:.1f} |")
print(f"| the hostile mix: crash, hang, abort, throw, exit, 64 MiB of output, allocation, "
      f"fork, and the 50 ms check | {mix:.1f} |")
print()
print(f"Mix ÷ (reference + 7 deadlines) = {mix / (slow + 7 * deadline):.2f}. Target: the mix "
      f"within 2x of the 50 ms check's own cost plus one deadline per poison declaration "
      f"({bound:.1f} s): {'met' if mix <= bound else 'MISSED'}.")
print(f"Statuses after the mix: {', '.join(f'{k} {v}' for k, v in sorted(statuses.items()))}; "
      f"processes of the import left afterwards: {left}.")
PY
)
python3 bench/write_results.py checks-hostile "$hostile"
echo "$hostile"
