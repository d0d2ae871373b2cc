// The registry database a Node test runs iotreg on, on the backend the environment chooses: an
// SQLite file in a directory of the test's, or, when $IOTREG_TEST_POSTGRESQL is set, a database
// of its own on the PostgreSQL server whose maintenance database's libpq URI is held in the file
// that variable names (the ctest fixture `postgresql`, tests/postgresql/CMakeLists.txt). Both
// test suites (tests/openapi, tests/browser) use it, so each runs unchanged on either backend.
//
// Outside iotreg, a test looks inside the registry and holds its write lock through the
// backend's own shell: sqlite3 ($IOTREG_SQLITE3) or psql ($IOTREG_PSQL), by default the one on the
// PATH. Every shell call has a deadline, and every failure throws. This module needs no npm
// package.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const sqlite3 = process.env.IOTREG_SQLITE3 || 'sqlite3';
const psql = process.env.IOTREG_PSQL || 'psql';
// Unaligned rows without headers, as sqlite3 prints them; no ~/.psqlrc; every error fatal.
const PSQL_OPTIONS = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1'];

// A statement that has not been answered by then fails (and a shell run for it is killed).
const STATEMENT_DEADLINE_MS = 30_000;
// Taking the write lock fails after this long.
const LOCK_DEADLINE_MS = 10_000;
// The registry's write lock (registry/storage/postgresql/registry.h, kWriterLockKey).
const POSTGRESQL_WRITER_LOCK_KEY = '7597419129372409858';

// Runs a shell to completion and answers its standard output.
function runShell(command, args, env) {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: STATEMENT_DEADLINE_MS, env });
  if (result.error) throw new Error(`${command} failed: ${result.error.message}`);
  assert.equal(result.status, 0, `${command} failed (${args.at(-1)}): ${result.stderr}`);
  return result.stdout;
}

// A shell kept running to be fed statements one exchange at a time. Not safe for overlapping
// exchanges: the caller waits for one before it starts the next.
class ShellSession {
  constructor(command, args, env) {
    this.command = command;
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'], env });
    this.output = '';
    this.errors = '';
    this.closed = false;
    this.waiter = null;
    const wake = () => this.waiter?.();
    this.child.stdout.on('data', (chunk) => { this.output += chunk; wake(); });
    this.child.stderr.on('data', (chunk) => { this.errors += chunk; wake(); });
    this.child.on('close', () => { this.closed = true; wake(); });
    this.child.on('error', (error) => {
      this.errors += `${error.message}\n`;
      this.closed = true;
      wake();
    });
    // A shell that quit cannot be written to; the exchange reports why it quit.
    this.child.stdin.on('error', () => {});
  }

  // Writes `input` and answers what the shell prints before the line `marker` (consuming both).
  // Rejects when the shell quits first, or kills it and rejects when `deadlineMs` pass first.
  exchange(input, marker, deadlineMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.child.kill('SIGKILL');
        finish(new Error(`${this.command} did not answer within ${deadlineMs} ms: ${this.errors}${this.output}`));
      }, deadlineMs);
      const finish = (error, answer) => {
        clearTimeout(timer);
        this.waiter = null;
        if (error) reject(error);
        else resolve(answer);
      };
      this.waiter = () => {
        const end = this.output.indexOf(`${marker}\n`);
        if (end >= 0) {
          const answer = this.output.slice(0, end);
          this.output = this.output.slice(end + marker.length + 1);
          finish(null, answer);
        } else if (this.closed) {
          finish(new Error(`${this.command} quit (${this.child.exitCode ?? this.child.signalCode}): ${this.errors}${this.output}`));
        }
      };
      if (!this.closed) this.child.stdin.write(input);
      this.waiter();
    });
  }

  // Ends the shell's input with `input`; kills the shell if it has not quit 10 s later.
  async close(input) {
    if (this.closed) return;
    const closed = new Promise((resolve) => this.child.once('close', resolve));
    this.child.stdin.end(input);
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 10_000))]);
    this.child.kill('SIGKILL');
  }
}

// Holds a write lock in `session` once `take` printed `marker`; release() ends the session with
// `letGo`.
async function holdLock(session, { take, marker, letGo }) {
  const release = () => session.close(letGo);
  try {
    await session.exchange(take, marker, LOCK_DEADLINE_MS);
  } catch (error) {
    await release();
    throw new Error(`${session.command} did not lock the registry: ${error.message}`);
  }
  return { release };
}

// An SQLite file, removed with the directory that holds it.
class SqliteDatabase {
  constructor(dir) {
    this.backend = 'sqlite';
    this.location = path.join(dir, 'registry.db');
  }

  async query(sql) {
    return runShell(sqlite3, ['-readonly', this.location, sql]);
  }

  async execute(sql) {
    runShell(sqlite3, [this.location, sql]);
  }

  holdWriteLock() {
    // -bail: the shell quits, and the marker never comes, if it cannot take the lock.
    return holdLock(new ShellSession(sqlite3, ['-bail', this.location]), {
      take: "BEGIN EXCLUSIVE;\nSELECT 'write lock held';\n", marker: 'write lock held', letGo: 'ROLLBACK;\n.quit\n',
    });
  }

  async drop() {}
}

// A database `iotreg_node_<pid>_<random>` on the server, owned by the server URI's user. Reads
// go through one read-only psql session, opened on the first and closed by drop(): a psql per
// read would cost a process and a connection each.
class PostgresqlDatabase {
  constructor(uriFile) {
    assert.ok(uriFile, 'IOTREG_TEST_POSTGRESQL is set but empty: it must name the file holding the server\'s URI');
    let serverUri;
    try {
      serverUri = fs.readFileSync(uriFile, 'utf8').trim();
    } catch (error) {
      throw new Error(`cannot read the PostgreSQL server's URI from ${uriFile} (IOTREG_TEST_POSTGRESQL; `
        + `tests/postgresql/cluster.sh start DIR writes DIR/uri): ${error.message}`);
    }
    const databasePart = /^(postgres(?:ql)?:\/\/[^/?#]*)\/[^?#]*/;
    assert.match(serverUri, databasePart, `${uriFile} holds no libpq URI: ${serverUri}`);
    this.backend = 'postgresql';
    this.name = `iotreg_node_${process.pid}_${crypto.randomBytes(4).toString('hex')}`;
    this.serverUri = serverUri;
    this.location = serverUri.replace(databasePart, `$1/${this.name}`);
    // psql gives up on a connection after 10 s.
    this.env = { ...process.env, PGCONNECT_TIMEOUT: '10' };
    this.reader = null;
    this.reads = Promise.resolve();
    runShell(psql, [...PSQL_OPTIONS, '-d', this.serverUri, '-c', `CREATE DATABASE ${this.name}`], this.env);
  }

  // The semicolon ends the statement, so that it runs before the marker's \echo.
  query(sql) {
    assert.match(sql, /;\s*$/, 'a statement for psql ends with a semicolon');
    this.reader ??= new ShellSession(psql, [...PSQL_OPTIONS, '-d', this.location],
      { ...this.env, PGOPTIONS: '-c default_transaction_read_only=on' });
    const marker = `iotreg-read-${crypto.randomBytes(8).toString('hex')}`;
    const answer = this.reads.then(() => this.reader.exchange(`${sql}\n\\echo ${marker}\n`, marker, STATEMENT_DEADLINE_MS));
    this.reads = answer.catch(() => {});
    return answer;
  }

  async execute(sql) {
    runShell(psql, [...PSQL_OPTIONS, '-d', this.location, '-c', sql], this.env);
  }

  holdWriteLock() {
    return holdLock(new ShellSession(psql, [...PSQL_OPTIONS, '-d', this.location], this.env), {
      take: `BEGIN;\nSELECT pg_advisory_xact_lock(${POSTGRESQL_WRITER_LOCK_KEY});\nSELECT 'write lock held';\n`,
      marker: 'write lock held',
      letGo: 'ROLLBACK;\n\\q\n',
    });
  }

  // Drops the database, even while connections to it remain.
  async drop() {
    await this.reads;
    await this.reader?.close('\\q\n');
    runShell(psql, [...PSQL_OPTIONS, '-d', this.serverUri, '-c', `DROP DATABASE IF EXISTS ${this.name} WITH (FORCE)`],
      this.env);
  }
}

// A new, empty registry database for one run: `location` is what iotreg's --db takes, `backend`
// is 'sqlite' or 'postgresql'. query(sql) answers the rows of a read-only statement, which ends
// with a semicolon, as the shell prints them (columns separated by '|', one row a line);
// execute(sql) runs statements that may write; holdWriteLock() answers once another process
// holds the registry's write lock, with an object whose release() lets go of it; drop() removes
// a PostgreSQL database (an SQLite file goes with `dir`). query, execute and drop answer
// promises.
export function createRegistryDatabase(dir) {
  return 'IOTREG_TEST_POSTGRESQL' in process.env
    ? new PostgresqlDatabase(process.env.IOTREG_TEST_POSTGRESQL) : new SqliteDatabase(dir);
}
