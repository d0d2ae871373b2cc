#!/usr/bin/env bash
# API benchmark: `iotreg serve` answering product lookups (GET /api/v1/products/{id}) and searches
# (GET /api/v1/products?q=...&limit=20) on a registry of N generated products, against nginx
# serving the very same reply bytes as static files (the floor: an HTTP server that only copies
# bytes), same URLs, same load, in one run. Writes the results into bench/README.md.
# Usage: bench/api.sh [N]    (default 200000 declarations)
# Environment: IOTREG_BUILD_DIR (build directory, default build), API_BENCH_DURATION (wrk -d of
# each measured run, default 20s), API_BENCH_WARMUP (wrk -d of the unrecorded warm-up run before
# each, default 5s; 0 skips it), API_BENCH_TIMEOUT (wrk --timeout, default 2s as wrk's: a
# reply that takes longer counts as a timeout error and its latency is not recorded),
# API_BENCH_IDS (how many product ids the hot lookups draw from, default 1000; up to N),
# API_BENCH_COLD_THREADS (the second --threads of the cold rows, for memory, default 16).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-200000}
duration=${API_BENCH_DURATION:-20s}
warmup=${API_BENCH_WARMUP:-5s}
timeout=${API_BENCH_TIMEOUT:-2s}  # wrk's default: a slower reply counts as a timeout error
timeout_seconds=$(python3 -c '
import re, sys
m = re.fullmatch(r"(\d+(?:\.\d+)?)([smh]?)", sys.argv[1])
if not m: sys.exit("API_BENCH_TIMEOUT: expected a number of seconds, minutes or hours: 2s, 1m")
print(float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600}[m.group(2)])' "$timeout")
connections=64
wrk_threads=$connections  # one connection per wrk thread: bench/api_requests.lua sees each one's waits
server_threads=64
as_of=2026-11-29
lookup_ids=${API_BENCH_IDS:-1000}  # product ids spread evenly over the registry, drawn at random
# Searches an officer would type: one brand (160 products), a brand prefix (Brand42, Brand420..429:
# 1,800), two product types (16,667 each) and two words that must both match (16,667).
search_words=("Brand1042" "Brand42" "camera" "router" "smart lock")
# The cold rows: lookups over every product, and searches for each of the 1,200 brands (Brand0 ..
# Brand1199: 160 to 52,000 products each, as prefixes), against a server that keeps no replies
# (--reply-cache 0), so that every request is answered from the registry.
cold_brands=1200
cold_threads=${API_BENCH_COLD_THREADS:-16}
build=${IOTREG_BUILD_DIR:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
generator="$root/../shared/bench/gen_declarations.py"
out="$root/bench/out"
work="$out/api"
mkdir -p "$out"

scripts/setup.sh wrk nginx-light curl time
cmake -S . -B "$build" -DIOTREG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target iotreg >/dev/null
iotreg="$build/iotreg"

csv="$out/declarations-$n.csv"  # the same files as bench/import.sh
[ -s "$csv" ] || python3 "$generator" "$n" csv 1 >"$csv"

rm -rf "$work"
mkdir -p "$work/static" "$work/nginx"
cp /proc/loadavg "$work/loadavg"  # the machine is shared: how busy it was
db="$work/api.db"
echo "api: importing $n declarations" >&2
"$iotreg" --db "$db" --as-of "$as_of" import "$csv" --quiet >/dev/null 2>"$work/import.log" || {
  status=$?
  # iotreg exits 1 when records are rejected; anything else is a failure.
  [ "$status" -eq 1 ] || { cat "$work/import.log" >&2; exit "$status"; }
}
products=$(sqlite3 "$db" "SELECT count(*) FROM products")
token=$("$iotreg" --db "$db" token create --role officer --name "Bench Officer" | tail -1)
[[ "$token" == iotreg_* ]] || { echo "api: no officer token: $token" >&2; exit 1; }

# Two free loopback ports.
read -r iotreg_port nginx_port < <(python3 -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))')

iotreg_pid=""
nginx_pid=""
stop_servers() {
  for pid in $iotreg_pid $nginx_pid; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $iotreg_pid $nginx_pid; do
    wait "$pid" 2>/dev/null || true
  done
  iotreg_pid=""
  nginx_pid=""
}
trap stop_servers EXIT
trap 'exit 130' INT TERM

# Waits until URL answers 200, for at most 60 s, while process $2 lives.
wait_for() {
  local url=$1 pid=$2 log=$3
  for _ in $(seq 600); do
    curl -fs -o /dev/null "$url" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "api: server died:" >&2; cat "$log" >&2; exit 1; }
    sleep 0.1
  done
  echo "api: $url did not answer within 60 s" >&2
  cat "$log" >&2
  exit 1
}

iotreg_url="http://127.0.0.1:$iotreg_port"
start_iotreg() {  # log threads [serve options...]: (re)starts the server on the same port
  local log=$1 threads=$2
  shift 2
  "$iotreg" --db "$db" --as-of "$as_of" serve --listen "127.0.0.1:$iotreg_port" \
    --threads "$threads" --public-rate 0 "$@" >"$work/$log" 2>&1 &
  iotreg_pid=$!
  wait_for "$iotreg_url/healthz" "$iotreg_pid" "$work/$log"
}
stop_iotreg() {
  kill "$iotreg_pid" 2>/dev/null || true
  wait "$iotreg_pid" 2>/dev/null || true
  iotreg_pid=""
}
# The server's memory (kB) from /proc: resident now, its peak, and of it anonymous and file pages.
memory_of() {  # pid output
  grep -E '^(VmRSS|VmHWM|RssAnon|RssFile):' "/proc/$1/status" | awk '{print $1, $2}' >"$2"
}
start_iotreg iotreg.log "$server_threads"

# The request paths: lookups of ids spread evenly over the registry, and the searches.
sqlite3 "$db" "SELECT id FROM products ORDER BY id" | python3 -c '
import sys
ids = sys.stdin.read().split()
k = min(int(sys.argv[1]), len(ids))
for i in range(k):
    print(f"/api/v1/products/{ids[i * len(ids) // k]}")' "$lookup_ids" >"$work/lookups.paths"
python3 -c '
import sys, urllib.parse
for words in sys.argv[1:]:
    print(f"/api/v1/products?q={urllib.parse.quote(words)}&limit=20")' "${search_words[@]}" \
  >"$work/searches.paths"
sqlite3 "$db" "SELECT id FROM products ORDER BY id" | sed 's|^|/api/v1/products/|' \
  >"$work/cold-lookups.paths"
for ((i = 0; i < cold_brands; i++)); do echo "/api/v1/products?q=Brand$i&limit=20"; done \
  >"$work/cold-searches.paths"

# Each reply fetched once from iotreg into the directory nginx serves: a lookup at its own path,
# a search at search/<query string> (nginx picks it by $args).
# One request at a time unless told otherwise, so that the times curl reports are each reply's
# own (in curl-KIND-SERVER.txt).
fetch_all() {  # kind server base_url dest [curl options]: each reply into its file under dest
  local kind=$1 server=$2 base=$3 dest=$4 paths="$work/$1.paths" config="$work/curl.config"
  shift 4
  local status="$work/curl-$kind-$server.txt"
  # The config in one pass (200,000 paths): a lookup at its own path, a search at search/<query>.
  python3 - "$paths" "$base" "$dest" "$config" <<'PY'
import os, sys
paths, base, dest, config = sys.argv[1:]
made = set()
with open(paths) as listed, open(config, "w") as out:
    for path in listed.read().split():
        file = dest + ("/search/" + path.split("?", 1)[1] if "?" in path else path)
        folder = os.path.dirname(file)
        if folder not in made:
            os.makedirs(folder, exist_ok=True)
            made.add(folder)
        out.write(f'url = "{base}{path}"\noutput = "{file}"\n')
PY
  curl -sS -K "$config" -H "Authorization: Bearer $token" "$@" \
    -w '%{http_code} %{time_total} %{url_effective}\n' >"$status"
  if [ "$(wc -l <"$status")" -ne "$(wc -l <"$paths")" ]; then
    echo "api: curl fetched $(wc -l <"$status") of $(wc -l <"$paths") replies" >&2
    exit 1
  fi
  if grep -v '^200 ' "$status" >&2; then
    echo "api: the replies above were not 200" >&2
    exit 1
  fi
}
for kind in lookups searches; do
  fetch_all "$kind" iotreg "$iotreg_url" "$work/static"
done
# The cold URLs' replies for nginx, fetched eight at a time (their times are not reported).
for kind in cold-lookups cold-searches; do
  fetch_all "$kind" iotreg "$iotreg_url" "$work/static" --parallel --parallel-max 8
done

# nginx as the current user, with its own prefix, pid and logs; static files only.
nginx_conf="$work/nginx/nginx.conf"
nginx_flags=$(nginx -V 2>&1)
{
  [ "$(id -u)" -ne 0 ] || echo "user $(id -un) $(id -gn);"
  cat <<CONF
worker_processes $(nproc);
daemon off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  types { }
  default_type application/json;
  keepalive_requests 1000000;  # iotreg keeps a connection for any number of requests
CONF
  for module in client_body proxy fastcgi uwsgi scgi; do
    case "$module" in client_body) ;; *)
      [[ "$nginx_flags" != *"--without-http_${module}_module"* ]] || continue ;;
    esac
    echo "  ${module}_temp_path $work/nginx/${module}_temp;"
  done
  cat <<CONF
  server {
    listen 127.0.0.1:$nginx_port;
    root $work/static;
    location = /api/v1/products { try_files /search/\$args =404; }
  }
}
CONF
} >"$nginx_conf"
nginx_url="http://127.0.0.1:$nginx_port"
nginx -p "$work/nginx" -c "$nginx_conf" -e "$work/nginx/error.log" >"$work/nginx/stdout.log" 2>&1 &
nginx_pid=$!
wait_for "$nginx_url/api/v1/products/$(sed -n '1s|.*/||p' "$work/lookups.paths")" \
  "$nginx_pid" "$work/nginx/error.log"

# nginx must serve exactly the bytes iotreg sent, for every path.
for kind in lookups searches cold-lookups cold-searches; do
  fetch_all "$kind" nginx "$nginx_url" "$work/nginx-replies" --parallel --parallel-max 8
done
diff -rq "$work/static" "$work/nginx-replies" >&2 || {
  echo "api: nginx does not serve the bytes iotreg sent" >&2
  exit 1
}
rm -rf "$work/nginx-replies"

# CPU time (clock ticks) used so far by processes $@ and their children (nginx's workers).
cpu_ticks() {
  local total=0 pid stat fields
  for pid in "$@" $(pgrep -P "$(IFS=,; echo "$*")" || true); do
    stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
    read -ra fields <<<"${stat##*) }"  # the fields after the command name
    total=$((total + fields[11] + fields[12]))  # utime + stime
  done
  echo "$total"
}
# CPU time (clock ticks) the whole machine has been busy: user, nice, system, irq, softirq, steal.
machine_busy_ticks() {
  local fields
  read -ra fields </proc/stat  # cpu user nice system idle iowait irq softirq steal ...
  echo $((fields[1] + fields[2] + fields[3] + fields[6] + fields[7] + fields[8]))
}
# Waits until iotreg has finished the requests wrk left behind (replies wrk no longer waits for
# are still computed): until it uses no more than 2 clock ticks in half a second, at most 300 s.
wait_idle() {
  local before after
  after=$(cpu_ticks "$iotreg_pid")
  for _ in $(seq 600); do
    before=$after
    sleep 0.5
    after=$(cpu_ticks "$iotreg_pid")
    [ $((after - before)) -gt 2 ] || return 0
  done
  echo "api: iotreg still busy 300 s after the load ended" >&2
}
run_wrk() {  # kind server url pid
  local kind=$1 server=$2 url=$3 pid=$4 before busy_before
  if [ "$warmup" != 0 ]; then
    wrk -t"$wrk_threads" -c"$connections" -d"$warmup" --timeout "$timeout" \
      -s bench/api_requests.lua "$url" -- "$work/$kind.paths" "$token" "$timeout_seconds" \
      >"$work/wrk-$kind-$server-warmup.txt" 2>&1 ||
      { cat "$work/wrk-$kind-$server-warmup.txt" >&2; exit 1; }
    wait_idle
  fi
  echo "api: $kind against $server for $duration" >&2
  before=$(cpu_ticks "$pid")
  busy_before=$(machine_busy_ticks)
  /usr/bin/time -f '%U %S' -o "$work/wrk-cpu-$kind-$server.txt" \
    wrk -t"$wrk_threads" -c"$connections" -d"$duration" --timeout "$timeout" --latency \
    -s bench/api_requests.lua "$url" -- "$work/$kind.paths" "$token" "$timeout_seconds" \
    >"$work/wrk-$kind-$server.txt" 2>&1 || { cat "$work/wrk-$kind-$server.txt" >&2; exit 1; }
  # server ticks, machine ticks (all processes), ticks per second, wrk's user and system seconds
  echo "$(($(cpu_ticks "$pid") - before)) $(($(machine_busy_ticks) - busy_before))" \
    "$(getconf CLK_TCK) $(tail -n 1 "$work/wrk-cpu-$kind-$server.txt")" \
    >"$work/cpu-$kind-$server.txt"
  wait_idle
}
wait_idle
for kind in lookups searches; do
  run_wrk "$kind" iotreg "$iotreg_url" "$iotreg_pid"
  run_wrk "$kind" nginx "$nginx_url" "$nginx_pid"
done
memory_of "$iotreg_pid" "$work/memory-hot.txt"
# Cold: a fresh server that keeps no replies, at two numbers of threads; its memory after each.
for threads in "$server_threads" "$cold_threads"; do
  stop_iotreg
  start_iotreg "iotreg-cold-$threads.log" "$threads" --reply-cache 0
  wait_idle
  for kind in cold-lookups cold-searches; do
    run_wrk "$kind" "iotreg-$threads" "$iotreg_url" "$iotreg_pid"
    [ "$threads" != "$server_threads" ] || run_wrk "$kind" nginx "$nginx_url" "$nginx_pid"
  done
  memory_of "$iotreg_pid" "$work/memory-cold-$threads.txt"
done
stop_servers

result=$(python3 - "$work" "$n" "$products" "$(nproc)" "$duration" "$warmup" "$timeout" \
  "$connections" "$wrk_threads" "$server_threads" "$lookup_ids" "$cold_threads" "$cold_brands" \
  "${search_words[@]}" <<'PY'
import datetime, json, re, sys
from pathlib import Path

work = Path(sys.argv[1])
(n, products, cores, duration, warmup, timeout, connections, wrk_threads, server_threads,
 ids, cold_threads, cold_brands) = sys.argv[2:14]
words = sys.argv[14:]
load = (work / "loadavg").read_text().split()[0]
SOCKET_ERRORS = ("connect", "read", "write", "timeout")

def parse(kind, server):
    """The figures of one wrk run: the script's result line, checked against wrk's own text."""
    path = work / f"wrk-{kind}-{server}.txt"
    text = path.read_text()
    lines = [l for l in text.splitlines() if l.startswith("api-bench-result ")]
    if len(lines) != 1:
        sys.exit(f"{path}: no result line from bench/api_requests.lua:\n{text}")
    r = json.loads(lines[0].split(" ", 1)[1])
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6) if r["duration_us"] else 0.0
    # wrk's own counts (it calls non-2xx only the replies >= 400) may only add to the script's.
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    r["non2xx"] = max(r["non2xx"], int(m.group(1)) if m else 0)
    m = re.search(r"Socket errors:\s*connect\s+(\d+),\s*read\s+(\d+),\s*write\s+(\d+),"
                  r"\s*timeout\s+(\d+)", text)
    if m:
        for key, value in zip(SOCKET_ERRORS, m.groups()):
            r[f"errors_{key}"] = max(r[f"errors_{key}"], int(value))
    # A connection left waiting longer than the timeout for a reply is a timeout too (wrk counts
    # a timeout only when the late reply arrives).
    r["errors_timeout"] += r["stuck_connections"]
    r["socket_errors"] = sum(r[f"errors_{k}"] for k in SOCKET_ERRORS)
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    if m and abs(float(m.group(1)) - r["rps"]) > 0.01 * r["rps"] + 1:
        sys.exit(f"{path}: requests/s {r['rps']:.1f} disagrees with wrk's {m.group(1)}")
    ticks, machine_ticks, per_second, wrk_user, wrk_system = (
        work / f"cpu-{kind}-{server}.txt").read_text().split()
    seconds = r["duration_us"] / 1e6
    r["cores_busy"] = int(ticks) / int(per_second) / seconds
    r["wrk_cores"] = (float(wrk_user) + float(wrk_system)) / seconds
    # What else ran on the machine meanwhile (the machine is shared): all busy time but the
    # server's and wrk's. Far above zero, the row is disturbed.
    r["other_cores"] = max(0.0, int(machine_ticks) / int(per_second) / seconds
                           - r["cores_busy"] - r["wrk_cores"])
    return r

runs = {(k, s): parse(k, s) for k in ("lookups", "searches") for s in ("iotreg", "nginx")}
hot_runs = dict(runs)
cold = f"iotreg-{server_threads}"
cold_other = f"iotreg-{cold_threads}"
for k in ("cold-lookups", "cold-searches"):
    for s in (cold, "nginx", cold_other):
        runs[(k, s)] = parse(k, s)

def memory(name):
    """VmRSS, VmHWM, RssAnon and RssFile in MiB, from /proc/PID/status."""
    fields = dict(line.split() for line in (work / f"memory-{name}.txt").read_text().splitlines())
    return {key.rstrip(":"): int(value) / 1024 for key, value in fields.items()}

def first_fetch(kind, server):
    """Median and slowest time of the first fetch of each URL (curl, one at a time) in ms."""
    times = sorted(float(line.split()[1]) * 1000
                   for line in (work / f"curl-{kind}-{server}.txt").read_text().splitlines())
    return f"median {times[len(times) // 2]:.1f} ms, slowest {times[-1]:.1f} ms"

def ratio(kind, server="iotreg"):
    base = runs[(kind, "nginx")]["rps"]
    return runs[(kind, server)]["rps"] / base if base else 0.0

def percentile_ms(r, q):
    """wrk records the latency of the replies that came within its timeout only: when more than
    (100 - q)% of the replies were later, the q-th percentile is beyond the timeout."""
    late, total = r["errors_timeout"], r["requests"] + r["stuck_connections"]
    if total == 0 or late > total * (100 - q) / 100:
        return None
    return r[f"p{q}_us"] / 1000

def show_ms(value):
    return f"> {timeout}" if value is None else f"{value:.2f}"

def errors(r):
    if r["socket_errors"] == 0:
        return "0"
    parts = [f"{k} {r['errors_' + k]}" for k in SOCKET_ERRORS if r["errors_" + k]]
    if r["stuck_connections"]:
        parts.append(f"of which {r['stuck_connections']} connections still waiting at the end")
    return f"{r['socket_errors']} ({', '.join(parts)})"

def stalls(r):
    """Connections that waited longer than the timeout for a reply at some moment."""
    if r["stalled_connections"] == 0:
        return f"0 (longest wait {r['longest_wait_us'] / 1000:.0f} ms)"
    return (f"{r['stalled_connections']} of {r['connections']} (longest wait "
            f"{r['longest_wait_us'] / 1e6:.1f} s)")

def non2xx(r):
    if r["non2xx"] == 0:
        return "0"
    return f"{r['non2xx']} ({r['non2xx_statuses']})" if r["non2xx_statuses"] else str(r["non2xx"])

print(f"Measured {datetime.date.today()} on {cores} cores (1-minute load average {load} before "
      f"the run), {n} declarations imported "
      f"({products} products, as of 2026-11-29). Each row: `wrk -t{wrk_threads} -c{connections} "
      f"-d{duration} --timeout {timeout} --latency` after an unrecorded {warmup} warm-up, an "
      f"officer's bearer token on every request; `iotreg serve --threads {server_threads}`, nginx "
      f"with {cores} worker processes serving the same reply bytes as static files; wrk and the "
      f"server share the machine. Lookups: {ids} product ids spread evenly over the registry, "
      "drawn at random; searches: `q` = " + ", ".join(f"`{w}`" for w in words) +
      " with `limit=20`, drawn at random. Socket errors include as timeouts the replies slower "
      f"than wrk's {timeout} timeout (wrk does not record their latency) and the connections "
      f"still waiting for a reply at the end of the run after longer than {timeout}; stalled "
      f"connections waited longer than {timeout} for a reply at some moment of the run. "
      f"Cold rows (`cold-*`): a freshly started `iotreg serve --reply-cache 0` (it keeps no "
      f"replies, so every request is answered from the registry), lookups of all {products} "
      f"product ids and searches for each of {cold_brands} brands (`q=Brand0` .. "
      f"`q=Brand{int(cold_brands) - 1}`, `limit=20`), drawn at random; the same rows again with "
      f"`--threads {cold_threads}` for its memory.")
print()
print("| requests | server | requests/s | iotreg ÷ nginx | p50 ms | p99 ms | bytes/reply | "
      "CPU cores: server / wrk / other processes | non-2xx | socket errors | stalled connections |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
rows = [(k, s) for k in ("lookups", "searches") for s in ("iotreg", "nginx")]
rows += [(k, s) for k in ("cold-lookups", "cold-searches") for s in (cold, "nginx", cold_other)]
for kind, server in rows:
        r = runs[(kind, server)]
        size = f"{r['bytes'] / r['requests']:,.0f}" if r["requests"] else "-"
        shown_ratio = f"{ratio(kind, server):.3f}" if server != "nginx" else "1"
        shown = server if server in ("iotreg", "nginx") else (
            f"iotreg --threads {server.split('-')[1]} --reply-cache 0")
        print(f"| {kind} | {shown} | {r['rps']:,.1f} | {shown_ratio} | "
              f"{show_ms(percentile_ms(r, 50))} | {show_ms(percentile_ms(r, 99))} | {size} | "
              f"{r['cores_busy']:.2f} / {r['wrk_cores']:.2f} / {r['other_cores']:.2f} | "
              f"{non2xx(r)} | {errors(r)} | {stalls(r)} |")
print()

def verdict(ok):
    return "met" if ok else "MISSED"

p99 = percentile_ms(runs[("lookups", "iotreg")], 99)
cold_lookup_p99 = percentile_ms(runs[("cold-lookups", cold)], 99)
cold_search_p99 = percentile_ms(runs[("cold-searches", cold)], 99)
mem = {t: memory(f"cold-{t}") for t in (server_threads, cold_threads)}
hot_mem = memory("hot")
failures = sum(r["non2xx"] + r["socket_errors"] + r["stalled_connections"]
               for r in runs.values())
print("First fetch of each URL, one request at a time before any load (so from an empty cache, "
      f"if the server keeps one): iotreg lookups {first_fetch('lookups', 'iotreg')}, searches "
      f"{first_fetch('searches', 'iotreg')}; nginx lookups {first_fetch('lookups', 'nginx')}, "
      f"searches {first_fetch('searches', 'nginx')}.")
print()
print("| target | measured | |")
print("|---|---|---|")
print(f"| lookups: iotreg ≥ 30% of nginx's requests/s | {ratio('lookups'):.1%} | "
      f"{verdict(ratio('lookups') >= 0.30)} |")
print(f"| searches: iotreg ≥ 15% of nginx's requests/s | {ratio('searches'):.2%} | "
      f"{verdict(ratio('searches') >= 0.15)} |")
print(f"| lookups: iotreg p99 latency < 50 ms | {show_ms(p99)}{'' if p99 is None else ' ms'} | "
      f"{verdict(p99 is not None and p99 < 50)} |")
print(f"| no errors (non-2xx, socket errors or stalled connections) in any run | {failures} | "
      f"{verdict(failures == 0)} |")
print(f"| cold lookups: iotreg ≥ 30% of nginx's requests/s | {ratio('cold-lookups', cold):.1%} | "
      f"{verdict(ratio('cold-lookups', cold) >= 0.30)} |")
print(f"| cold lookups: p99 < 20 ms | {show_ms(cold_lookup_p99)} ms | "
      f"{verdict(cold_lookup_p99 is not None and cold_lookup_p99 < 20)} |")
print(f"| cold searches: iotreg ≥ 20% of nginx's requests/s | "
      f"{ratio('cold-searches', cold):.1%} | {verdict(ratio('cold-searches', cold) >= 0.20)} |")
print(f"| cold searches: p99 < 50 ms | {show_ms(cold_search_p99)} ms | "
      f"{verdict(cold_search_p99 is not None and cold_search_p99 < 50)} |")
peak = max(m["VmHWM"] for m in mem.values())
print(f"| server memory after the cold rows ≤ 300 MB, at --threads {server_threads} and "
      f"{cold_threads} | peak {mem[server_threads]['VmHWM']:.0f} and "
      f"{mem[cold_threads]['VmHWM']:.0f} MiB | {verdict(peak * 1.048576 <= 300)} |")
print()
print("Server memory from /proc/PID/status (MiB): resident at the end, the peak, and of the "
      "resident memory the anonymous (heap) and the file-backed pages.")
print()
print("| server | after | VmRSS | VmHWM (peak) | RssAnon | RssFile |")
print("|---|---|---|---|---|---|")
for label, m in ((f"--threads {server_threads}, reply cache 64 MiB", hot_mem),
                 (f"--threads {server_threads}, --reply-cache 0", mem[server_threads]),
                 (f"--threads {cold_threads}, --reply-cache 0", mem[cold_threads])):
    after = "the hot rows" if "64 MiB" in label else "its cold rows"
    print(f"| {label} | {after} | {m['VmRSS']:.0f} | {m['VmHWM']:.0f} | {m['RssAnon']:.0f} | "
          f"{m['RssFile']:.0f} |")
PY
)
python3 bench/write_results.py api "$result"
echo "$result"
