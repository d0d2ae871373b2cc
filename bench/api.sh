#!/usr/bin/env bash
# API benchmark: `iotreg serve` answering product lookups (GET /api/v1/products/{id}) and searches
# (GET /api/v1/products?q=...&limit=20) on a registry of N generated products, against nginx
# serving the very same reply bytes as static files (the floor: an HTTP server that only copies
# bytes), same URLs, same load, in one run. Writes the results into bench/README.md.
# Usage: bench/api.sh [N]    (default 200000 declarations)
# Environment: IOTREG_BUILD_DIR (build directory, default build), API_BENCH_DURATION (wrk -d of
# each measured run, default 20s), API_BENCH_WARMUP (wrk -d of the unrecorded warm-up run before
# each, default 5s; 0 skips it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-200000}
duration=${API_BENCH_DURATION:-20s}
warmup=${API_BENCH_WARMUP:-5s}
wrk_threads=2
connections=64
server_threads=64
as_of=2026-11-29
lookup_ids=1000  # product ids spread evenly over the registry, requested in random order
# Searches an officer would type: one brand (160 products), a brand prefix (Brand42, Brand420..429:
# 1,800), two product types (16,667 each) and two words that must both match (16,667).
search_words=("Brand1042" "Brand42" "camera" "router" "smart lock")
build=${IOTREG_BUILD_DIR:-build}
case "$build" in /*) ;; *) build="$root/$build" ;; esac
generator="$root/../shared/bench/gen_declarations.py"
out="$root/bench/out"
work="$out/api"
mkdir -p "$out"

scripts/setup.sh wrk nginx-light curl
cmake -S . -B "$build" -DIOTREG_WERROR=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j2 --target iotreg >/dev/null
iotreg="$build/iotreg"

csv="$out/declarations-$n.csv"  # the same files as bench/import.sh
[ -s "$csv" ] || python3 "$generator" "$n" csv 1 >"$csv"

rm -rf "$work"
mkdir -p "$work/static" "$work/nginx"
db="$work/api.db"
echo "api: importing $n declarations" >&2
"$iotreg" --db "$db" --as-of "$as_of" import "$csv" --quiet >/dev/null 2>"$work/import.log" || {
  status=$?
  # iotreg exits 1 when records are rejected; anything else is a failure.
  [ "$status" -eq 1 ] || { cat "$work/import.log" >&2; exit "$status"; }
}
products=$(sqlite3 "$db" "SELECT count(*) FROM products")
token=$("$iotreg" --db "$db" token create --role officer | tail -1)
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
"$iotreg" --db "$db" --as-of "$as_of" serve --listen "127.0.0.1:$iotreg_port" \
  --threads "$server_threads" >"$work/iotreg.log" 2>&1 &
iotreg_pid=$!
wait_for "$iotreg_url/healthz" "$iotreg_pid" "$work/iotreg.log"

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

# Each reply fetched once from iotreg into the directory nginx serves: a lookup at its own path,
# a search at search/<query string> (nginx picks it by $args).
static_file() {
  case "$1" in
    *\?*) echo "$work/static/search/${1#*\?}" ;;
    *) echo "$work/static$1" ;;
  esac
}
fetch_all() {  # base_url paths_file -> fetched into static_file(path) under $2
  local base=$1 paths=$2 dest=$3 config="$work/curl.config"
  : >"$config"
  while read -r path; do
    local file
    file=$(static_file "$path")
    file="$dest${file#"$work/static"}"
    mkdir -p "$(dirname "$file")"
    printf 'url = "%s%s"\noutput = "%s"\n' "$base" "$path" "$file" >>"$config"
  done <"$paths"
  curl -sS -K "$config" -H "Authorization: Bearer $token" -w '%{http_code} %{url_effective}\n' \
    >"$work/curl.status"
  if grep -v '^200 ' "$work/curl.status" >&2; then
    echo "api: the replies above were not 200" >&2
    exit 1
  fi
}
for kind in lookups searches; do
  fetch_all "$iotreg_url" "$work/$kind.paths" "$work/static"
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
for kind in lookups searches; do
  fetch_all "$nginx_url" "$work/$kind.paths" "$work/nginx-replies"
done
diff -rq "$work/static" "$work/nginx-replies" >&2 || {
  echo "api: nginx does not serve the bytes iotreg sent" >&2
  exit 1
}
rm -rf "$work/nginx-replies"

run_wrk() {  # kind server url
  local kind=$1 server=$2 url=$3
  if [ "$warmup" != 0 ]; then
    wrk -t"$wrk_threads" -c"$connections" -d"$warmup" -s bench/api_requests.lua "$url" \
      -- "$work/$kind.paths" "$token" >"$work/wrk-$kind-$server-warmup.txt" 2>&1
  fi
  echo "api: $kind against $server for $duration" >&2
  wrk -t"$wrk_threads" -c"$connections" -d"$duration" --latency -s bench/api_requests.lua \
    "$url" -- "$work/$kind.paths" "$token" >"$work/wrk-$kind-$server.txt" 2>&1
}
for kind in lookups searches; do
  run_wrk "$kind" iotreg "$iotreg_url"
  run_wrk "$kind" nginx "$nginx_url"
done
stop_servers

result=$(python3 - "$work" "$n" "$products" "$(nproc)" "$duration" "$warmup" "$connections" \
  "$wrk_threads" "$server_threads" "$lookup_ids" "${search_words[@]}" <<'PY'
import datetime, json, re, sys
from pathlib import Path

work = Path(sys.argv[1])
n, products, cores, duration, warmup, connections, wrk_threads, server_threads, ids = sys.argv[2:11]
words = sys.argv[11:]

def parse(kind, server):
    """The figures of one wrk run: the script's result line, checked against wrk's own text."""
    path = work / f"wrk-{kind}-{server}.txt"
    text = path.read_text()
    lines = [l for l in text.splitlines() if l.startswith("api-bench-result ")]
    if len(lines) != 1:
        sys.exit(f"{path}: no result line from bench/api_requests.lua:\n{text}")
    r = json.loads(lines[0].split(" ", 1)[1])
    if r["requests"] == 0 or r["duration_us"] == 0:
        sys.exit(f"{path}: no request completed:\n{text}")
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    # wrk's own counts (it calls non-2xx only the replies >= 400) may only add to the script's.
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    r["non2xx"] = max(r["non2xx"], int(m.group(1)) if m else 0)
    m = re.search(r"Socket errors:\s*connect\s+(\d+),\s*read\s+(\d+),\s*write\s+(\d+),"
                  r"\s*timeout\s+(\d+)", text)
    if m:
        for key, value in zip(("connect", "read", "write", "timeout"), m.groups()):
            r[f"errors_{key}"] = max(r[f"errors_{key}"], int(value))
    r["socket_errors"] = sum(r[f"errors_{k}"] for k in ("connect", "read", "write", "timeout"))
    m = re.search(r"Requests/sec:\s*([\d.]+)", text)
    if m and abs(float(m.group(1)) - r["rps"]) > 0.01 * r["rps"] + 1:
        sys.exit(f"{path}: requests/s {r['rps']:.1f} disagrees with wrk's {m.group(1)}")
    return r

runs = {(k, s): parse(k, s) for k in ("lookups", "searches") for s in ("iotreg", "nginx")}

def ms(us):
    return f"{us / 1000:.2f}"

def errors(r):
    if r["socket_errors"] == 0:
        return "0"
    parts = [f"{k} {r['errors_' + k]}" for k in ("connect", "read", "write", "timeout")
             if r["errors_" + k]]
    return f"{r['socket_errors']} ({', '.join(parts)})"

def non2xx(r):
    if r["non2xx"] == 0:
        return "0"
    return f"{r['non2xx']} ({r['non2xx_statuses']})" if r["non2xx_statuses"] else str(r["non2xx"])

print(f"Measured {datetime.date.today()} on {cores} cores, {n} declarations imported "
      f"({products} products, as of 2026-11-29). Each row: `wrk -t{wrk_threads} -c{connections} "
      f"-d{duration} --latency` after an unrecorded {warmup} warm-up, an officer's bearer token "
      f"on every request; `iotreg serve --threads {server_threads}`, nginx with {cores} worker "
      "processes serving the same reply bytes as static files; wrk, iotreg and nginx share the "
      f"machine. Lookups: {ids} product ids spread evenly over the registry, drawn at random; "
      "searches: `q` = " + ", ".join(f"`{w}`" for w in words) + " with `limit=20`, drawn at random.")
print()
print("| requests | server | requests/s | iotreg ÷ nginx | p50 ms | p99 ms | max ms | "
      "bytes/reply | non-2xx | socket errors |")
print("|---|---|---|---|---|---|---|---|---|---|")
for kind in ("lookups", "searches"):
    base = runs[(kind, "nginx")]["rps"]
    for server in ("iotreg", "nginx"):
        r = runs[(kind, server)]
        print(f"| {kind} | {server} | {r['rps']:,.0f} | {r['rps'] / base:.2f} | {ms(r['p50_us'])} | "
              f"{ms(r['p99_us'])} | {ms(r['max_us'])} | {r['bytes'] / r['requests']:,.0f} | "
              f"{non2xx(r)} | {errors(r)} |")
print()

def verdict(ok):
    return "met" if ok else "MISSED"

lookup_ratio = runs[("lookups", "iotreg")]["rps"] / runs[("lookups", "nginx")]["rps"]
search_ratio = runs[("searches", "iotreg")]["rps"] / runs[("searches", "nginx")]["rps"]
p99 = runs[("lookups", "iotreg")]["p99_us"] / 1000
failures = sum(r["non2xx"] + r["socket_errors"] for r in runs.values())
print("| target | measured | |")
print("|---|---|---|")
print(f"| lookups: iotreg ≥ 30% of nginx's requests/s | {lookup_ratio:.0%} | "
      f"{verdict(lookup_ratio >= 0.30)} |")
print(f"| searches: iotreg ≥ 15% of nginx's requests/s | {search_ratio:.0%} | "
      f"{verdict(search_ratio >= 0.15)} |")
print(f"| lookups: iotreg p99 latency < 50 ms | {p99:.2f} ms | {verdict(p99 < 50)} |")
print(f"| no errors (non-2xx or socket errors) in any run | {failures} | {verdict(failures == 0)} |")
PY
)
python3 bench/write_results.py api "$result"
echo "$result"
