#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for the tests, from Debian's postgresql package (the newest
# /usr/lib/postgresql/*/bin).
#
# Usage: cluster.sh start DIR | cluster.sh stop DIR
#
# start: replaces whatever DIR holds (a server left running by an interrupted run is stopped
#   first), then starts a cluster and returns once it accepts connections, or fails within
#   four minutes. The cluster is UTF8 (collation C, character classes C.UTF-8), has one
#   superuser `iotreg` with trust authentication, listens on no TCP address, only on a Unix
#   socket that the server's user and root may use, and runs with fsync off: it is fast and
#   does not survive a crash of the server (tests kill clients, never the server).
#   DIR/uri then holds a libpq URI of its maintenance database:
#     postgresql:///postgres?host=SOCKET_DIR&port=PORT&user=iotreg
#   SOCKET_DIR, which also holds the data directory and the server's log, is DIR/server, or a
#   directory under /tmp that the symlink DIR/server names when DIR/server will not do: beyond
#   the server's user's reach (as root, under /root), too long for a socket address, or holding
#   a quote, comma or backslash.
# stop: stops the cluster (immediate shutdown) and removes DIR; succeeds when there is none.
#
# As root, the server runs as the `postgres` user that the package creates (initdb refuses
# root); otherwise as the caller. Every step has a deadline. Exits non-zero with a message on
# stderr when anything fails.
set -euo pipefail
export LC_ALL=C

fail() {
  echo "cluster.sh: $*" >&2
  exit 1
}

if [ $# -ne 2 ] || { [ "$1" != start ] && [ "$1" != stop ]; }; then
  fail "usage: cluster.sh start|stop DIR"
fi
action=$1
dir=$(realpath -m -- "$2")

bin=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if [ -z "$bin" ] || [ ! -x "$bin/initdb" ] || [ ! -x "$bin/pg_ctl" ]; then
  fail "no PostgreSQL server in /usr/lib/postgresql/*/bin (scripts/setup.sh installs postgresql)"
fi

server_user=$(id -un)
if [ "$(id -u)" -eq 0 ]; then
  id -u postgres >/dev/null 2>&1 ||
    fail "no postgres user to run the server as root (scripts/setup.sh installs postgresql)"
  server_user=postgres
fi

# Runs a command as the server's user, from the directory given first (which that user can
# enter: the caller's working directory may be closed to it).
as_server() {
  local cwd=$1
  shift
  if [ "$server_user" = "$(id -un)" ]; then
    (cd "$cwd" && "$@")
  else
    (cd "$cwd" && runuser -u "$server_user" -- "$@")
  fi
}

# The process ids of every process of the cluster in data directory $1: PostgreSQL's processes
# run in their data directory.
cluster_processes() {
  local data=$1 proc
  for proc in /proc/[0-9]*; do
    if [ "$(readlink "$proc/cwd" 2>/dev/null)" = "$data" ]; then echo "${proc#/proc/}"; fi
  done
}

# Stops the cluster in $dir if one runs (also one whose postmaster was killed, leaving its
# other processes to exit on their own), frees its shared memory and removes $dir.
stop_cluster() {
  [ -e "$dir" ] || [ -L "$dir" ] || return 0
  local server data pid shm_key shm_id processes deadline
  server=$(readlink -f "$dir/server" 2>/dev/null || true)
  data=$server/data
  if [ -n "$server" ] && [ -f "$data/postmaster.pid" ]; then
    pid=$(sed -n 1p "$data/postmaster.pid")
    read -r shm_key shm_id < <(sed -n 7p "$data/postmaster.pid") || true
    if [ -n "$pid" ] && [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$data" ]; then
      as_server / "$bin/pg_ctl" stop -D "$data" -m immediate -w -t 30 -s ||
        fail "pg_ctl stop failed for the cluster in $data"
    fi
    # Processes left by a killed postmaster exit on their own; after 10 seconds they are killed.
    deadline=$((SECONDS + 10))
    while processes=$(cluster_processes "$data") && [ -n "$processes" ]; do
      [ $SECONDS -lt $((deadline + 10)) ] || fail "processes $processes of $data do not exit"
      # shellcheck disable=SC2086  # one id per word
      [ $SECONDS -lt $deadline ] || kill -KILL $processes 2>/dev/null || true
      sleep 0.1
    done
    # The segment a killed postmaster left: removed only while it still has the key it had.
    if [ -n "${shm_id:-}" ] && ipcs -m 2>/dev/null |
        awk -v id="$shm_id" -v key="$(printf '0x%08x' "${shm_key:-0}")" \
          '$2 == id && $1 == key { found = 1 } END { exit !found }'; then
      ipcrm -m "$shm_id" 2>/dev/null || true
    fi
  fi
  if [ -n "$server" ] && [ "$server" != "$dir/server" ]; then rm -rf -- "$server"; fi
  rm -rf -- "$dir" || fail "cannot remove $dir"
}

start_cluster() {
  stop_cluster
  mkdir -p -- "$dir" || fail "cannot create $dir"

  local server=$dir/server port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') ||
    fail "cannot pick a free port (python3 is needed: scripts/setup.sh installs it)"
  # A Unix socket address holds 107 bytes: SERVER/.s.PGSQL.PORT must fit.
  if ! { mkdir -m 700 -- "$server" && chown "$server_user" "$server" &&
      as_server / test -w "$server" -a -x "$server"; } 2>/dev/null ||
      [ $((${#server} + ${#port} + 10)) -gt 107 ] || [[ $server == *[\',\\]* ]]; then
    rm -rf -- "$server"
    server=$(mktemp -d /tmp/iotreg-postgresql.XXXXXX) && server=$(realpath -- "$server") &&
      chown "$server_user" "$server" && ln -s -- "$server" "$dir/server" ||
      fail "cannot create a server directory in /tmp"
  fi

  local data=$server/data log=$server/server.log
  if ! as_server "$server" timeout 120 "$bin/initdb" -D "$data" -U iotreg -A trust -E UTF8 \
      --locale=C.UTF-8 --lc-collate=C --no-sync --no-instructions >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    fail "initdb failed in $data"
  fi
  # Appended settings override initdb's. Speed: nothing is flushed to disk, WAL holds only what
  # crash recovery needs, no JIT. mmap for dynamic shared memory: containers' /dev/shm is small.
  cat >>"$data/postgresql.conf" <<EOF
listen_addresses = ''
port = $port
unix_socket_directories = '$server'
unix_socket_permissions = 0700
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
wal_level = minimal
max_wal_senders = 0
jit = off
dynamic_shared_memory_type = mmap
timezone = 'UTC'
EOF
  if ! as_server "$server" "$bin/pg_ctl" start -D "$data" -l "$log" -w -t 60 -s; then
    tail -n 50 "$log" >&2 || true
    fail "the server in $data did not start (its log is above)"
  fi

  # The socket directory as a URI query value: everything but unreserved bytes percent-encoded.
  local host="" byte i
  for ((i = 0; i < ${#server}; i++)); do
    byte=${server:i:1}
    case $byte in
      [A-Za-z0-9._~/-]) host+=$byte ;;
      *) host+=$(printf '%%%02X' "'$byte") ;;
    esac
  done
  printf 'postgresql:///postgres?host=%s&port=%s&user=iotreg\n' "$host" "$port" >"$dir/uri.new"
  mv -- "$dir/uri.new" "$dir/uri"
}

case $action in
  start) start_cluster ;;
  stop) stop_cluster ;;
esac
