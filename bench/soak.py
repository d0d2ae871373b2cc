#!/usr/bin/env python3
"""Load-and-fault suite for `iotreg serve` and `iotreg import` (see bench/README.md, "Soak").

Phases, each checked:
  load    concurrent API reads (officer searches and lookups, exports, public pages), API writes
          (a manufacturer's small imports), CLI imports of small files into the same registry,
          flag actions, 1,000 idle sockets and 100 slow senders, and /healthz probed throughout;
          every request has a client-side deadline and a request that misses it is "stuck".
          Then SIGTERM: the server must stop within its grace period.
  kill    kill -9 of the server during an API import, or of a CLI import, at random moments;
          after each: PRAGMA integrity_check (SQLite), `iotreg audit verify`, every import all or
          nothing, no product lost or duplicated.
  disk    where the machine allows (root, a tmpfs can be mounted) and the registry is an SQLite
          file: a registry on a tiny tmpfs filled by imports: the API answers 503 with
          Retry-After (never 500), the CLI exits 2, and the registry stays consistent.
The registry is an SQLite file in the work directory, or with --postgresql a database that the
run creates under a name of its own on the server whose maintenance database's libpq URI
(`postgresql:///postgres?...`, a superuser's) the file URI_FILE holds, and drops at the end.
Only iotreg processes are ever killed, never the PostgreSQL server.
Exit status 0 when every check held, 1 otherwise; the summary is printed as text and JSON.
Usage: soak.py --iotreg BIN --work DIR [--products N] [--load-seconds S] [--kills K]
       [--seed S] [--json FILE] [--postgresql URI_FILE]
"""
import argparse
import csv
import io
import json
import os
import random
import re
import resource
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

AS_OF = "2026-11-29"
HEADER = ("manufacturer.name,manufacturer.address,product.brand,product.model,product.type,"
          "passwords.default,passwords.factory_reset,vulnerability.contact_email,"
          "support.end_date,statement.signatory,statement.role,statement.place,statement.date\n")
WRITER = "Maker 7 Ltd"  # the manufacturer whose token the API writer holds


class Stuck(Exception):
    """A request that got no complete answer before its deadline."""


TYPES = ["smart camera", "router", "smart speaker", "baby monitor", "smart lock", "smart TV",
         "doorbell", "thermostat"]


def base_rows(count):
    """The registry the phases start from: `count` products of 500 manufacturers, a quarter of
    them non-compliant in one way or another."""
    rows = []
    for i in range(count):
        maker = i % 500
        password = ["unique_per_device", "user_defined", "universal", "unique_per_device"][i % 4]
        contact = "" if i % 11 == 0 else f"security@maker{maker}.example"
        rows.append(f"Maker {maker} Ltd,{maker} Industrial Way,Brand{maker % 120},M-{i:08d},"
                    f"{TYPES[i % len(TYPES)]},{password},unique_per_device,{contact},"
                    f"{2027 + i % 6}-06-30,A Person,Compliance,Leeds,2026-01-10\n")
    return HEADER + "".join(rows)


def soak_rows(prefix, count, manufacturer=WRITER):
    """CSV rows of `count` new products whose models start with `prefix`; a third non-compliant."""
    rows = []
    for i in range(count):
        password = "universal" if i % 3 == 0 else "unique_per_device"
        rows.append(f"{manufacturer},1 Soak Street,SoakBrand,{prefix}-{i:05d},smart camera,"
                    f"{password},unique_per_device,security@soak.example,2031-06-30,A Person,"
                    f"Compliance,Leeds,2026-01-10\n")
    return HEADER + "".join(rows)


def read_reply(sock, deadline):
    """Reads one HTTP/1.1 reply (Content-Length, chunked, or until close) before `deadline`."""
    data = b""

    def more():
        nonlocal data
        left = deadline - time.monotonic()
        if left <= 0:
            raise Stuck("deadline passed")
        sock.settimeout(left)
        try:
            chunk = sock.recv(65536)
        except socket.timeout as error:
            raise Stuck("deadline passed") from error
        if not chunk:
            return False
        data += chunk
        return True

    while b"\r\n\r\n" not in data:
        if not more():
            raise ConnectionError("closed before the reply's head")
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    data = rest
    if "content-length" in headers:
        length = int(headers["content-length"])
        while len(data) < length:
            if not more():
                raise ConnectionError("closed inside the body")
        return status, headers, data[:length], data[length:]
    if headers.get("transfer-encoding") == "chunked":
        body = b""
        while True:
            while b"\r\n" not in data:
                if not more():
                    raise ConnectionError("closed inside a chunked body")
            size_line, data = data.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            while len(data) < size + 2:
                if not more():
                    raise ConnectionError("closed inside a chunk")
            body += data[:size]
            data = data[size + 2:]
            if size == 0:
                return status, headers, body, data
    while more():
        pass
    return status, headers, data, b""


class Client:
    """One keep-alive connection with a deadline on every request; reconnects when closed."""

    def __init__(self, port, deadline_seconds):
        self.port = port
        self.deadline_seconds = deadline_seconds
        self.sock = None
        self.left = b""

    def request(self, method, target, token=None, body=b"", content_type=None):
        deadline = time.monotonic() + self.deadline_seconds
        head = f"{method} {target} HTTP/1.1\r\nHost: soak\r\n"
        if token:
            head += f"Authorization: Bearer {token}\r\n"
        if content_type:
            head += f"Content-Type: {content_type}\r\n"
        if body or method == "POST":
            head += f"Content-Length: {len(body)}\r\n"
        for attempt in range(2):  # a kept connection the server closed meanwhile: once more
            fresh = self.sock is None
            try:
                if fresh:
                    self.sock = socket.create_connection(("127.0.0.1", self.port),
                                                         timeout=max(0.01, deadline - time.monotonic()))
                    self.left = b""
                self.sock.sendall(head.encode() + b"\r\n" + body)
                status, headers, reply, self.left = read_reply(self.sock, deadline)
                if headers.get("connection") == "close":
                    self.close()
                return status, headers, reply
            except Stuck:
                self.close()
                raise
            except (ConnectionError, OSError) as error:
                self.close()
                if fresh or attempt == 1:
                    if time.monotonic() >= deadline:
                        raise Stuck(str(error)) from error
                    raise
        raise AssertionError("unreachable")

    def close(self):
        if self.sock:
            self.sock.close()
        self.sock = None


class Results:
    """What the phases saw, shared by their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counts = {}
        self.failures = []
        self.health_worst = 0.0

    def count(self, key, amount=1):
        with self.lock:
            self.counts[key] = self.counts.get(key, 0) + amount

    def fail(self, message):
        with self.lock:
            if len(self.failures) < 200:
                self.failures.append(message)
            self.counts["failures"] = self.counts.get("failures", 0) + 1


class DatabaseError(Exception):
    """The registry's database could not be read, created or dropped."""


class SqliteStore:
    """A registry in an SQLite file, read by Python's sqlite3 on read-only connections."""

    def __init__(self, path):
        self.path = Path(path)
        self.location = str(self.path)  # the value of --db

    def query(self, sql):
        """The rows of one statement."""
        try:
            db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, timeout=30)
            try:
                return db.execute(sql).fetchall()
            finally:
                db.close()
        except sqlite3.Error as error:
            raise DatabaseError(f"{self.path}: {error}") from error

    def integrity(self):
        """PRAGMA integrity_check's verdict: "ok", or what is wrong."""
        return self.query("PRAGMA integrity_check")[0][0]

    def settle(self, seconds):
        """None: once a killed process is reaped, nothing of it is left but the file."""
        return None


def psql(uri, sql, read_only=False):
    """The rows of one statement run by psql on `uri` (in autocommit, or in a read-only
    transaction), as lists of text; raises DatabaseError when psql fails or takes over 120 s."""
    env = dict(os.environ, PGCONNECT_TIMEOUT="10", PGCLIENTENCODING="UTF8")
    if read_only:
        env["PGOPTIONS"] = "-c default_transaction_read_only=on"
    try:
        done = subprocess.run(["psql", uri, "-X", "-q", "-t", "--csv", "-v", "ON_ERROR_STOP=1",
                               "-c", sql], capture_output=True, timeout=120, env=env)
    except subprocess.TimeoutExpired as error:
        raise DatabaseError(f"psql did not end within 120 s: {sql}") from error
    if done.returncode != 0:
        raise DatabaseError(f"psql exited {done.returncode} on {sql!r}: "
                            f"{done.stderr.decode(errors='replace').strip()}")
    return list(csv.reader(io.StringIO(done.stdout.decode())))


class PostgresqlStore:
    """A registry in a PostgreSQL database, read by psql in read-only transactions."""

    def __init__(self, uri):
        self.location = uri  # the value of --db

    def query(self, sql):
        """The rows of one statement, every value as text."""
        return psql(self.location, sql, read_only=True)

    def integrity(self):
        """None: PostgreSQL has no equivalent of SQLite's PRAGMA integrity_check."""
        return None

    def settle(self, seconds):
        """Waits up to `seconds` until no client session but the checker's is left in the
        database, and returns what is wrong, or None. A killed iotreg process's session ends
        (its transaction rolled back, or committed if its COMMIT had arrived) only once its
        server process notices the closed socket, and until then may hold the registry's write
        lock."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                left = int(self.query("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                                      "current_database() AND backend_type = 'client backend' "
                                      "AND pid <> pg_backend_pid()")[0][0])
            except DatabaseError as error:
                return str(error)
            if left == 0:
                return None
            if time.monotonic() >= deadline:
                return f"{left} session(s) of killed processes still open after {seconds} s"
            time.sleep(0.1)


class SqliteBackend:
    """Registries as SQLite files in the work directory, left there after the run."""

    name = "sqlite"
    integrity_check = "PRAGMA integrity_check in every consistency check"

    def __init__(self, work):
        self.work = work

    def create(self, name):
        """A fresh registry `name`.db in the work directory: a previous run's is removed."""
        for leftover in self.work.glob(f"{name}.db*"):
            leftover.unlink()
        return SqliteStore(self.work / f"{name}.db")

    def close(self):
        """None: nothing to drop, the files stay for inspection."""
        return None


class PostgresqlBackend:
    """Registries as databases of one PostgreSQL server, created fresh under names of this run
    and dropped by close(). `uri` is a superuser's libpq URI of the maintenance database
    (`postgresql:///postgres?...`); a registry's URI is the same with its database's name."""

    name = "postgresql"
    integrity_check = "not applicable: PostgreSQL has no equivalent of PRAGMA integrity_check"

    def __init__(self, uri):
        if "/postgres?" not in uri:
            sys.exit(f"--postgresql: the URI does not name the maintenance database as "
                     f"/postgres?...: {uri}")
        self.uri = uri
        self.prefix = f"soak_{os.getpid()}_{int(time.time())}"
        self.databases = []

    def create(self, name):
        """A fresh database for registry `name`, empty: iotreg creates the registry in it."""
        database = f"{self.prefix}_{name}"
        psql(self.uri, f'CREATE DATABASE "{database}"')
        self.databases.append(database)
        return PostgresqlStore(self.uri.replace("/postgres?", f"/{database}?", 1))

    def close(self):
        """Drops every database this run created, with whatever sessions remain; returns what
        failed, or None."""
        errors = []
        for database in self.databases:
            try:
                psql(self.uri, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            except DatabaseError as error:
                errors.append(str(error))
        self.databases = []
        return "; ".join(errors) or None


class Registry:
    """A registry (an SQLite file or a PostgreSQL database) and the iotreg commands on it."""

    def __init__(self, iotreg, store):
        self.iotreg = iotreg
        self.store = store

    def run(self, *arguments, stdin=None, timeout=120, env=None):
        return subprocess.run([self.iotreg, "--db", self.store.location, "--as-of", AS_OF,
                               *arguments],
                              input=stdin, capture_output=True, timeout=timeout, env=env)

    def token(self, *arguments):
        done = self.run("token", "create", "--name", "Soak Tester", *arguments)
        if done.returncode != 0:
            sys.exit(f"token create failed: {done.stderr.decode()}")
        return done.stdout.decode().strip().splitlines()[-1]

    def serve(self, log_path, *extra):
        log = open(log_path, "ab")
        server = subprocess.Popen([self.iotreg, "--db", self.store.location, "--as-of", AS_OF,
                                   "serve", "--listen", "127.0.0.1:0", *extra],
                                  stdout=subprocess.PIPE, stderr=log)
        line = server.stdout.readline().decode()
        match = re.search(r"serving http://127\.0\.0\.1:(\d+)", line)
        if not match:
            server.kill()
            sys.exit(f"serve did not start: {line}")
        return server, int(match.group(1))

    def check(self, results, phase, expected_models=None, all_or_none=()):
        """Integrity (SQLite), the audit chain, products neither lost nor duplicated, imports
        atomic. Returns the stored models, or None when the registry could not be read (a
        failure)."""
        failures_before = results.counts.get("failures", 0)
        models = None
        try:
            integrity = self.store.integrity()
            if integrity not in (None, "ok"):
                results.fail(f"{phase}: integrity_check: {integrity}")
            duplicates = self.store.query(
                "SELECT min(model), count(*) FROM products "
                "GROUP BY manufacturer_id, lower(brand), lower(model) "
                "HAVING count(*) > 1 LIMIT 5")
            if duplicates:
                results.fail(f"{phase}: duplicated products {duplicates}")
            models = {row[0] for row in self.store.query("SELECT model FROM products")}
        except DatabaseError as error:
            results.fail(f"{phase}: cannot read the registry: {error}")
        verified = self.run("audit", "verify")
        if verified.returncode != 0:
            results.fail(f"{phase}: audit verify: {verified.stdout.decode()}"
                         f"{verified.stderr.decode()}")
        if models is not None:
            lost = (expected_models or set()) - models
            if lost:
                results.fail(f"{phase}: {len(lost)} acknowledged products lost, e.g. "
                             f"{sorted(lost)[:3]}")
            for unit in all_or_none:
                present = len(unit & models)
                if present not in (0, len(unit)):
                    results.fail(f"{phase}: an import is in part: {present} of {len(unit)} "
                                 f"stored")
        results.count(f"{phase}_checks")
        if results.counts.get("failures", 0) > failures_before:
            results.count("consistency_failures")
        return models


def open_idle_sockets(port, count):
    sockets = []
    for _ in range(count):
        try:
            sockets.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        except OSError:
            break
    return sockets


def load_phase(registry, work, tokens, seconds, results, rng):
    """Concurrent reads, writes, imports, idle sockets and slow senders; then SIGTERM."""
    max_id = int(registry.store.query("SELECT max(id) FROM products")[0][0])
    server, port = registry.serve(work / "serve-load.log", "--threads", "16", "--grace", "10",
                                  "--idle-timeout", "10")
    stop = threading.Event()
    acknowledged = set()
    acknowledged_lock = threading.Lock()
    words = ["camera", "router", "Brand42", "smart lock", "Maker 7", "O’Neill", "Wi‑Fi",
             "10×zoom", "a°b", "TP®Link", "日本", "\u200f", "\"quoted\"", "-x", "a*", "NEAR(a b)"]

    def reader(seed):
        local = random.Random(seed)
        client = Client(port, 10)
        while not stop.is_set():
            choice = local.random()
            if choice < 0.4:
                target = f"/api/v1/products/{local.randint(1, max_id + 50)}"
            elif choice < 0.75:
                target = "/api/v1/products?limit=20&q=" + quote(local.choice(words), safe="")
            elif choice < 0.85:
                target = local.choice(["/api/v1/stats", "/api/v1/flags?limit=20",
                                       "/api/v1/audit?limit=20", "/api/v1/checks"])
            elif choice < 0.95:
                target = f"/public/products/{local.randint(1, max_id)}"
            else:
                target = "/api/v1/export?format=ndjson&q=Brand4"
            try:
                status, _, _ = client.request("GET", target, tokens["officer"])
            except Stuck:
                results.count("stuck")
                results.fail(f"load: stuck GET {target}")
                continue
            except OSError as error:
                results.count("connection_errors")
                results.fail(f"load: GET {target}: {error}")
                continue
            results.count("reads")
            if status >= 500:
                results.count("5xx")
                results.fail(f"load: GET {target} answered {status}")
            elif status not in (200, 404):
                results.count(f"status_{status}")
                results.fail(f"load: GET {target} answered {status}")

    def api_writer():
        client = Client(port, 60)
        batch = 0
        while not stop.is_set():
            prefix = f"SOAK-API-{batch:05d}"
            count = 1 if batch % 2 == 0 else 25
            body = soak_rows(prefix, count).encode()
            batch += 1
            try:
                status, headers, _ = client.request("POST", "/api/v1/declarations",
                                                    tokens["manufacturer"], body, "text/csv")
            except Stuck:
                results.count("stuck")
                results.fail(f"load: stuck POST of {prefix}")
                continue
            results.count("api_imports")
            if status == 200:
                with acknowledged_lock:
                    acknowledged.update(f"{prefix}-{i:05d}" for i in range(count))
            elif status == 503 and "retry-after" in headers:
                results.count("5xx")
                results.fail(f"load: POST answered 503 (busy) for {prefix}")
                time.sleep(min(5, int(headers["retry-after"])))
            else:
                results.count("5xx" if status >= 500 else f"status_{status}")
                results.fail(f"load: POST of {prefix} answered {status}")

    def cli_importer():
        index = 0
        while not stop.is_set():
            prefix = f"SOAK-CLI-{index:05d}"
            path = work / f"{prefix}.csv"
            path.write_text(soak_rows(prefix, 40))
            index += 1
            try:
                done = registry.run("import", str(path), "--quiet", timeout=60)
            except subprocess.TimeoutExpired:
                results.count("stuck")
                results.fail(f"load: CLI import of {prefix} did not end in 60 s")
                continue
            results.count("cli_imports")
            if done.returncode == 0:
                with acknowledged_lock:
                    acknowledged.update(f"{prefix}-{i:05d}" for i in range(40))
            else:
                results.fail(f"load: CLI import exit {done.returncode}: {done.stderr.decode()[-300:]}")

    def flag_officer():
        client = Client(port, 10)
        local = random.Random(99)
        while not stop.is_set():
            try:
                status, _, body = client.request("GET", "/api/v1/flags?state=raised&limit=20",
                                                 tokens["officer"])
                items = json.loads(body)["items"] if status == 200 else []
                if items:
                    flag = local.choice(items)
                    action = local.choice(["confirm", "dismiss"])
                    payload = json.dumps({"reason": "soak test"}).encode()
                    status, _, _ = client.request("POST", f"/api/v1/flags/{flag['id']}/{action}",
                                                  tokens["officer"], payload, "application/json")
                    results.count("flag_actions")
                    if status not in (200, 409):
                        results.count("5xx" if status >= 500 else f"status_{status}")
                        results.fail(f"load: flag {action} answered {status}")
            except Stuck:
                results.count("stuck")
                results.fail("load: a flag request was stuck")
            time.sleep(0.2)

    def health_prober():
        while not stop.is_set():
            started = time.monotonic()
            try:
                status, _, _ = Client(port, 1.0).request("GET", "/healthz")
                elapsed = time.monotonic() - started
                with results.lock:
                    results.health_worst = max(results.health_worst, elapsed)
                results.count("health_probes")
                if status != 200:
                    results.fail(f"load: /healthz answered {status}")
            except (Stuck, OSError) as error:
                results.count("stuck")
                results.fail(f"load: /healthz got no answer within 1 s ({error})")
            time.sleep(0.2)

    def slow_senders():
        senders = []
        for _ in range(100):
            try:
                sock = socket.create_connection(("127.0.0.1", port), timeout=5)
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHo")
                senders.append(sock)
            except OSError:
                results.count("slow_sender_refused")
        while not stop.is_set():
            for sock in senders:
                try:
                    sock.send(b"s")
                except OSError:
                    pass  # closed by the server: its head took too long, as it should
            time.sleep(1)
        for sock in senders:
            sock.close()

    threads = [threading.Thread(target=reader, args=(seed,)) for seed in range(8)]
    threads += [threading.Thread(target=f) for f in (api_writer, cli_importer, flag_officer,
                                                      health_prober, slow_senders)]
    idle = open_idle_sockets(port, 1000)
    results.count("idle_sockets", len(idle))
    for thread in threads:
        thread.start()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
        if thread.is_alive():
            results.fail("load: a client thread did not end")
    started = time.monotonic()
    server.send_signal(signal.SIGTERM)
    try:
        server.wait(timeout=20)
        results.counts["sigterm_seconds"] = round(time.monotonic() - started, 2)
        if server.returncode != 0:
            results.fail(f"load: serve exited {server.returncode} after SIGTERM")
    except subprocess.TimeoutExpired:
        server.kill()
        results.fail("load: serve still running 20 s after SIGTERM")
    for sock in idle:
        sock.close()
    registry.check(results, "load", expected_models=acknowledged)


def kill_phase(registry, backend, work, tokens, kills, results, rng):
    """kill -9 of the server during an API import, or of a CLI import, at random moments."""
    # How long one import of a batch takes here, into a registry of the same backend, so that
    # the kills fall before, during and after its transaction.
    size = 20000
    scratch = Registry(registry.iotreg, backend.create("calibrate"))
    started = time.monotonic()
    calibration = scratch.run("import", "-", "--format", "csv", "--quiet",
                              stdin=soak_rows("CALIBRATE", size).encode())
    import_seconds = time.monotonic() - started
    if calibration.returncode != 0:
        results.fail(f"kill: the timed import exited {calibration.returncode}: "
                     f"{calibration.stderr.decode()[-300:]}")
    results.counts["kill_import_seconds"] = round(import_seconds, 2)
    for round_number in range(kills):
        prefix = f"SOAK-KILL-{round_number:03d}"
        body = soak_rows(prefix, size)
        unit = {f"{prefix}-{i:05d}" for i in range(size)}
        kill_after = rng.uniform(0.05, 1.3) * import_seconds
        if round_number % 2 == 0:
            server, port = registry.serve(work / "serve-kill.log")
            outcome = {}

            def post():
                try:
                    outcome["status"] = Client(port, 60).request(
                        "POST", "/api/v1/declarations", tokens["manufacturer"], body.encode(),
                        "text/csv")[0]
                except (Stuck, OSError) as error:
                    outcome["error"] = str(error)

            poster = threading.Thread(target=post)
            poster.start()
            time.sleep(kill_after)
            server.kill()
            server.wait()
            poster.join(timeout=60)
            results.count("server_kills")
            acknowledged = unit if outcome.get("status") == 200 else set()
        else:
            path = work / f"{prefix}.csv"
            path.write_text(body)
            importer = subprocess.Popen([registry.iotreg, "--db", registry.store.location,
                                         "--as-of", AS_OF, "import", str(path), "--quiet"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(kill_after)
            importer.kill()
            importer.wait()
            results.count("import_kills")
            acknowledged = unit if importer.returncode == 0 else set()
        unsettled = registry.store.settle(60)
        if unsettled:
            results.fail(f"kill: after the kill of round {round_number}: {unsettled}")
        models = registry.check(results, "kill", all_or_none=[unit])
        if models is None:
            continue
        if acknowledged - models:
            results.fail(f"kill: an acknowledged import of {prefix} was lost")
        results.count("kill_stored" if unit <= models else "kill_rolled_back")


def disk_phase(backend, iotreg, work, results):
    """A registry on a tiny tmpfs, filled by imports, where the machine allows mounting one;
    about the registry's own file, so only for SQLite."""
    if backend.name != "sqlite":
        results.counts["disk"] = "not run: the registry is in a PostgreSQL server"
        return
    if os.geteuid() != 0:
        results.counts["disk"] = "not run: needs root to mount a tmpfs"
        return
    mount = work / "tiny-disk"
    mount.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                             capture_output=True)
    if mounted.returncode != 0:
        results.counts["disk"] = f"not run: cannot mount a tmpfs ({mounted.stderr.decode().strip()})"
        return
    try:
        registry = Registry(iotreg, SqliteStore(mount / "registry.db"))
        first = registry.run("import", "-", "--format", "csv", stdin=soak_rows("DISK-SEED", 5).encode())
        if first.returncode != 0:
            results.fail(f"disk: the seed import failed: {first.stderr.decode()}")
            return
        manufacturer = registry.token("--role", "manufacturer", "--manufacturer", WRITER)
        server, port = registry.serve(work / "serve-disk.log")
        statuses = []
        full = False
        for batch in range(200):
            body = soak_rows(f"DISK-{batch:03d}", 400).encode()
            status, headers, reply = Client(port, 60).request(
                "POST", "/api/v1/declarations", manufacturer, body, "text/csv")
            statuses.append(status)
            if status >= 500:
                full = True
                if status != 503 or "retry-after" not in headers:
                    results.fail(f"disk: a full disk answered {status} {reply[:200]!r}")
                if registry.store.location in reply.decode("utf-8", "replace"):
                    results.fail("disk: the 503 names the database file")
                break
            if status != 200:
                results.fail(f"disk: an import answered {status}")
                break
        if not full:
            results.fail("disk: 200 imports did not fill 3 MB")
        # The CLI on the full disk: exit 2, a message, nothing changed.
        cli = registry.run("import", "-", "--format", "csv",
                           stdin=soak_rows("DISK-CLI", 2000).encode())
        if cli.returncode != 2 or not cli.stderr:
            results.fail(f"disk: the CLI on a full disk exited {cli.returncode}: "
                         f"{cli.stderr.decode()[-300:]}")
        status, _, _ = Client(port, 5).request("GET", "/healthz")
        if status != 200:
            results.fail(f"disk: /healthz answered {status} on a full disk")
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=40)
        registry.check(results, "disk")
        results.counts["disk"] = f"filled after {len(statuses)} imports; {statuses[-1]} at the end"
    finally:
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iotreg", required=True)
    parser.add_argument("--work", required=True)
    parser.add_argument("--products", type=int, default=5000)
    parser.add_argument("--load-seconds", type=float, default=40)
    parser.add_argument("--kills", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json")
    parser.add_argument("--postgresql", metavar="URI_FILE",
                        help="run on a fresh database of the PostgreSQL server whose maintenance "
                             "database's libpq URI this file holds")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    if args.postgresql:
        backend = PostgresqlBackend(Path(args.postgresql).read_text().strip())
    else:
        backend = SqliteBackend(work)
    try:
        status = soak(args, backend, work)
    except DatabaseError as error:
        status = f"soak: {error}"
    finally:
        dropped = backend.close()
        if dropped:
            print(f"soak: dropping the run's databases failed: {dropped}", file=sys.stderr)
    sys.exit(status or (1 if dropped else 0))


def soak(args, backend, work):
    """The run: a registry of args.products products, then each phase; prints the summary and
    returns the exit status."""
    rng = random.Random(args.seed)
    registry = Registry(args.iotreg, backend.create("soak"))
    declarations = work / f"declarations-{args.products}.csv"
    declarations.write_text(base_rows(args.products))
    started = time.monotonic()
    imported = registry.run("import", str(declarations), "--quiet", timeout=3600)
    if imported.returncode not in (0, 1):
        sys.exit(f"the base import failed: {imported.stderr.decode()}")
    tokens = {"officer": registry.token("--role", "officer"),
              "manufacturer": registry.token("--role", "manufacturer", "--manufacturer", WRITER)}
    results = Results()
    phases = {}
    for name, run in (("load", lambda: load_phase(registry, work, tokens, args.load_seconds,
                                                  results, rng)),
                      ("kill", lambda: kill_phase(registry, backend, work, tokens, args.kills,
                                                  results, rng)),
                      ("disk", lambda: disk_phase(backend, args.iotreg, work, results))):
        phase_started = time.monotonic()
        run()
        phases[name] = round(time.monotonic() - phase_started, 1)
    summary = {
        "backend": backend.name,
        "integrity_check": backend.integrity_check,
        "products": args.products,
        "load_seconds": args.load_seconds,
        "phase_seconds": phases,
        "total_seconds": round(time.monotonic() - started, 1),
        "health_worst_ms": round(results.health_worst * 1000, 1),
        **results.counts,
        "failures": results.failures,
    }
    for key in ("stuck", "5xx", "consistency_failures"):
        summary.setdefault(key, 0)
    text = json.dumps(summary, indent=1, ensure_ascii=False)
    print(text)
    if args.json:
        Path(args.json).write_text(text)
    return 1 if results.failures else 0


if __name__ == "__main__":
    main()
