// What the OpenAPI tests share: a throwaway registry of the bundled samples (on the backend that
// database.mjs chooses: SQLite, or PostgreSQL when $IOTREG_TEST_POSTGRESQL is set) served by
// `iotreg serve` on a free loopback port, Prism (`prism proxy`, npm @stoplight/prism-cli) as a
// validating proxy in front of it on another, an HTTP client whose every request has a deadline,
// and the verdict on one exchange: the violations of schemas/openapi.yaml that Prism found in
// the reply.
//
// Prism validates what it forwards and reports violations in the `sl-violations` header of its
// reply (it runs without --errors, which would make it answer invalid requests itself instead of
// forwarding them, and the tests send invalid requests on purpose). What Prism cannot carry
// unchanged (a GET with a body, a JSON body that is not JSON, bytes that are not HTTP) goes to
// the server directly, and its reply is validated by the same Prism validator in this process,
// as it is when Prism cannot route a request (a method the path does not have).
//
// The environment names the inputs: IOTREG_BINARY, IOTREG_SOURCE_DIR, IOTREG_NODE_MODULES_DIR
// (a directory whose node_modules holds this folder's package-lock.json, installed by `npm ci`),
// and those of database.mjs: IOTREG_SQLITE3, or IOTREG_TEST_POSTGRESQL and IOTREG_PSQL.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRegistryDatabase } from './database.mjs';

export const AS_OF = '2026-11-29';
export const LUMORA = 'Lumora Vision Ltd';

const binary = process.env.IOTREG_BINARY;
const sourceDir = process.env.IOTREG_SOURCE_DIR;
const modulesDir = path.resolve(process.env.IOTREG_NODE_MODULES_DIR || process.cwd());
const require = createRequire(path.join(modulesDir, 'package.json'));

export const documentPath = sourceDir ? path.join(sourceDir, 'schemas', 'openapi.yaml') : '';
export const samplesDir = sourceDir ? path.join(sourceDir, 'samples') : '';

const prismHttp = require('@stoplight/prism-http');
const prismRequire = createRequire(require.resolve('@stoplight/prism-http'));
const Ajv = prismRequire('ajv').default;
const addFormats = prismRequire('ajv-formats').default;
const prismRoute = require('@stoplight/prism-http/dist/router/index.js').default;
const { validateOutput } = require('@stoplight/prism-http/dist/validator/index.js');
const { matchPath } = require('@stoplight/prism-http/dist/router/matchPath.js');
const typeIs = prismRequire('type-is');
const prismCli = require.resolve('@stoplight/prism-cli/dist/index.js');

// Every request of the tests ends by then, answered or not.
export const REQUEST_DEADLINE_MS = 20_000;

// The error code of each status, as the document's table of errors fixes it.
export const ERROR_CODES = {
  400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found',
  405: 'method_not_allowed', 408: 'request_timeout', 409: 'conflict', 413: 'payload_too_large',
  414: 'uri_too_long', 415: 'unsupported_media_type', 422: 'unprocessable',
  429: 'too_many_requests', 431: 'header_too_large', 500: 'internal', 503: 'unavailable',
};

// ---------------------------------------------------------------------------------------------
// Processes

export function runIotreg(args, { allow = [0] } = {}) {
  const result = spawnSync(binary, args, { encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  if (!allow.includes(result.status)) {
    throw new Error(`iotreg ${args.join(' ')} exited ${result.status}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// A child process whose output is kept (the last 200 KiB) for the failure report.
function spawnLogged(command, args, options) {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  child.log = [];
  let kept = 0;
  const keep = (chunk) => {
    child.log.push(chunk.toString());
    kept += chunk.length;
    while (kept > 200 * 1024 && child.log.length > 1) kept -= child.log.shift().length;
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return child;
}

async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
  if (!stopped) {
    child.kill('SIGKILL');
    await exited;
  }
}

// Polls `url` until it answers 200 or 30 s pass; fails early when `child` exits.
async function waitUntilServing(url, child, what) {
  const deadline = Date.now() + 30_000;
  let last = '';
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${what} exited (${child.exitCode ?? child.signalCode}) before serving\n${child.log.join('')}`);
    }
    try {
      const reply = await send(url, { target: '/healthz' }, 2_000);
      if (reply.status === 200) return;
      last = `answered ${reply.status}: ${reply.text}`;
    } catch (error) {
      last = error.message;
    }
    await sleep(100);
  }
  throw new Error(`${what} did not serve within 30 s (${last})\n${child.log.join('')}`);
}

// The registry of every sample with one token per role (and `spareTokens` more officer
// tokens that a test may revoke), `iotreg serve` over it and Prism in front; `stack.database` is
// the registry (database.mjs). close() stops both and removes the registry; a start that fails
// has already done so.
export async function startStack({ serveArgs = [], serverEnv = {}, spareTokens = 0 } = {}) {
  assert.ok(binary && fs.existsSync(binary), `IOTREG_BINARY must name the iotreg binary (got ${binary})`);
  assert.ok(sourceDir && fs.existsSync(documentPath), `IOTREG_SOURCE_DIR must name the source tree (got ${sourceDir})`);
  const stack = { tmp: fs.mkdtempSync(path.join(os.tmpdir(), 'iotreg-openapi-')), tokens: {} };
  stack.close = async () => {
    await stopChild(stack.prism);
    await stopChild(stack.server);
    try {
      await stack.database?.drop();
    } finally {
      fs.rmSync(stack.tmp, { recursive: true, force: true });
    }
  };
  try {
    stack.database = createRegistryDatabase(stack.tmp);
    await startServing(stack, { serveArgs, serverEnv, spareTokens });
  } catch (error) {
    await stack.close();
    throw error;
  }
  return stack;
}

async function startServing(stack, { serveArgs, serverEnv, spareTokens }) {
  // The samples hold malformed records on purpose: the import exits 1.
  const samples = fs.readdirSync(samplesDir).filter((name) => name.startsWith('0')).sort()
    .map((name) => path.join(samplesDir, name));
  runIotreg(['--db', stack.database.location, '--as-of', AS_OF, 'import', '--quiet', ...samples], { allow: [1] });
  const create = (...args) => {
    const out = runIotreg(['--db', stack.database.location, 'token', 'create', '--name', 'Test Holder', ...args]).stdout;
    const token = out.trim().split('\n').pop().trim();
    assert.match(token, /^iotreg_[0-9a-f]{64}$/, `token create printed: ${out}`);
    return token;
  };
  stack.tokens.officer = create('--role', 'officer');
  stack.tokens.manufacturer = create('--role', 'manufacturer', '--manufacturer', LUMORA);
  stack.tokens.admin = create('--role', 'admin');
  stack.spareTokens = [];
  for (let i = 0; i < spareTokens; ++i) stack.spareTokens.push(create('--role', 'officer'));

  const port = await freePort();
  stack.direct = `http://127.0.0.1:${port}`;
  stack.server = spawnLogged(binary, ['--db', stack.database.location, '--as-of', AS_OF, 'serve', '--listen', `127.0.0.1:${port}`, ...serveArgs],
    { env: { ...process.env, ...serverEnv } });
  await waitUntilServing(stack.direct, stack.server, 'iotreg serve');

  // Node's own limit on a request head (16 KiB) would answer long targets and headers before
  // Prism sees them; the server's limits are what is tested.
  const prismPort = await freePort();
  stack.proxy = `http://127.0.0.1:${prismPort}`;
  stack.prism = spawnLogged(process.execPath, ['--max-http-header-size=262144', prismCli, 'proxy', documentPath,
    stack.direct, '--host', '127.0.0.1', '--port', String(prismPort), '--cors=false', '--errors=false',
    '--verboseLevel', 'warn'], { env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
  await waitUntilServing(stack.proxy, stack.prism, 'prism proxy');
  stack.operations = await prismHttp.getHttpOperationsFromSpec(documentPath);
}

export const bearer = (token) => (token ? { authorization: `Bearer ${token}` } : {});

// ---------------------------------------------------------------------------------------------
// HTTP

// One request on a connection of its own; rejects when no whole reply arrived by the deadline.
// `target` is sent exactly as given (already percent-encoded).
// `localAddress` (a loopback address such as 127.0.0.9) makes the request come from a client of
// its own, for the public pages' per-client rate limit.
export function send(base, { method = 'GET', target, headers = {}, body, localAddress }, deadlineMs = REQUEST_DEADLINE_MS) {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
    const outgoing = { ...headers };
    if (payload !== undefined && !Object.keys(outgoing).some((name) => name.toLowerCase() === 'content-length')) {
      outgoing['content-length'] = String(payload.length);
    }
    const request = http.request({ host: url.hostname, port: url.port, method, path: target, headers: outgoing, agent: false, localAddress });
    const timer = setTimeout(() => request.destroy(new Error(`no whole reply to ${method} ${target.slice(0, 200)} within ${deadlineMs} ms`)), deadlineMs);
    request.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    request.on('response', (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      response.on('end', () => {
        clearTimeout(timer);
        const bytes = Buffer.concat(chunks);
        resolve({ status: response.statusCode, headers: response.headers, body: bytes, text: bytes.toString('utf8') });
      });
    });
    request.end(payload);
  });
}

// Sends raw bytes on a new connection (then, after `pauseMs`, `later`) and parses what the
// server answers before it closes the connection or the deadline passes.
export function rawExchange(base, bytes, { later, pauseMs = 0, deadlineMs = REQUEST_DEADLINE_MS } = {}) {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: url.hostname, port: Number(url.port) });
    const chunks = [];
    const timer = setTimeout(() => socket.destroy(), deadlineMs);
    socket.on('connect', () => {
      socket.write(bytes);
      if (later !== undefined) setTimeout(() => socket.writable && socket.write(later), pauseMs);
    });
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', (error) => {
      // A reset after the answer still leaves the answer to read.
      if (chunks.length === 0) {
        clearTimeout(timer);
        reject(error);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      try {
        resolve(parseRawReply(Buffer.concat(chunks)));
      } catch (error) {
        reject(error);
      }
    });
  });
}

// One HTTP/1.1 reply (Content-Length or chunked body) from raw bytes.
export function parseRawReply(bytes) {
  const headEnd = bytes.indexOf('\r\n\r\n');
  if (headEnd < 0) throw new Error(`no HTTP reply head in ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`);
  const lines = bytes.subarray(0, headEnd).toString('latin1').split('\r\n');
  const statusLine = /^HTTP\/1\.[01] (\d{3}) /.exec(lines[0]);
  if (!statusLine) throw new Error(`not an HTTP status line: ${JSON.stringify(lines[0])}`);
  const headers = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  let body = bytes.subarray(headEnd + 4);
  if ('content-length' in headers) body = body.subarray(0, Number(headers['content-length']));
  return { status: Number(statusLine[1]), headers, body, text: body.toString('utf8') };
}

// ---------------------------------------------------------------------------------------------
// Validation against the document

const SEVERITY = ['error', 'warning', 'information', 'hint'];

function describeViolation(violation) {
  const where = Array.isArray(violation.location) ? violation.location.join('.') : (violation.path ?? []).join('.');
  const severity = typeof violation.severity === 'number' ? SEVERITY[violation.severity] : violation.severity;
  return `${severity}: ${where ? `${where}: ` : ''}${violation.message}`;
}

// Prism validates with Ajv and treats a schema Ajv cannot compile as one that nothing violates
// (e.g. `nullable` without `type`, an `enum` with a duplicate once Prism adds null to it), so
// such a schema would silently check nothing. Returns where each such schema is, and why.
export function uncompilableSchemas(operations) {
  // Prism's own Ajv, with the options Prism compiles with (validator/validators/utils.js).
  const ajv = new Ajv({ allErrors: true, allowUnionTypes: true, allowMatchingProperties: true, strict: false, logger: false });
  addFormats(ajv);
  const found = [];
  const check = (where, schema) => {
    if (!schema) return;
    try {
      ajv.compile(schema);
    } catch (error) {
      found.push(`${where}: ${error.message}`);
    }
  };
  for (const operation of operations) {
    const request = operation.request ?? {};
    for (const kind of ['path', 'query', 'headers']) {
      for (const parameter of request[kind] ?? []) check(`${operation.iid} ${kind} ${parameter.name}`, parameter.schema);
    }
    for (const content of request.body?.contents ?? []) check(`${operation.iid} request ${content.mediaType}`, content.schema);
    for (const response of operation.responses) {
      for (const header of response.headers ?? []) check(`${operation.iid} ${response.code} header ${header.name}`, header.schema);
      for (const content of response.contents ?? []) check(`${operation.iid} ${response.code} ${content.mediaType}`, content.schema);
    }
  }
  return found;
}

// The operations of the document whose path template matches `pathname` (any method).
export function operationsForPath(stack, pathname) {
  return stack.operations.filter((operation) => {
    const matched = matchPath(pathname, operation.path);
    return matched._tag === 'Right' && matched.right !== 0;
  });
}

export function operationById(stack, operationId) {
  const operation = stack.operations.find((candidate) => candidate.iid === operationId);
  assert.ok(operation, `the document has no operation ${operationId}`);
  return operation;
}

// The reply as Prism's proxy hands it to its validator: JSON bodies parsed, others as text.
function replyElement(reply) {
  const headers = {};
  for (const [name, value] of Object.entries(reply.headers)) {
    headers[name.toLowerCase()] = Array.isArray(value) ? value.join(',') : value;
  }
  let body = reply.text;
  if (reply.status !== 204 && typeIs.is(headers['content-type'] || '', ['application/json', 'application/*+json'])) {
    try {
      body = JSON.parse(reply.text);
    } catch {
      return { element: null, problem: `the body is not JSON although the Content-Type says so: ${reply.text.slice(0, 200)}` };
    }
  }
  return { element: { statusCode: reply.status, headers, body } };
}

// Validates a reply with Prism's validator in this process, as the reply of `operations`
// (each of them; a 405 is a reply of every operation of its path).
export function validateReply(operations, reply) {
  const { element, problem } = replyElement(reply);
  if (problem) return [problem];
  const found = [];
  for (const operation of operations) {
    const result = validateOutput({ resource: operation, element });
    if (result._tag === 'Left') {
      for (const violation of result.left) found.push(`${operation.iid}: ${describeViolation(violation)}`);
    }
  }
  return found;
}

// The operation Prism routes `method target` to, or null.
export function routedOperation(stack, method, target) {
  const url = new URL(target, 'http://localhost');
  const query = {};
  for (const key of url.searchParams.keys()) query[key] = url.searchParams.getAll(key);
  const routed = prismRoute({ resources: stack.operations, input: { method: method.toLowerCase(), url: { path: url.pathname, query }, headers: {} } });
  return routed._tag === 'Right' ? routed.right : null;
}

// The violations of the document by the server in one exchange, [] when there are none.
// `exchange` is {via: 'proxy' | 'direct', request: {method, target}, reply, operationIds}:
// `operationIds` name the operations the reply must be one of when no operation of the
// document routes the request (a method the path lacks, a malformed target).
export function serverViolations(stack, exchange) {
  const { via, request, reply } = exchange;
  const contentType = String(reply.headers['content-type'] ?? '');
  if (contentType.startsWith('application/problem+json')) {
    return [`Prism answered itself instead of forwarding the server's reply: ${reply.text.slice(0, 500)}`];
  }
  const fallback = () => {
    const routed = routedOperation(stack, request.method, request.target);
    let operations = routed ? [routed] : [];
    if (!routed) {
      const ids = exchange.operationIds ?? operationsForPath(stack, new URL(request.target, 'http://localhost').pathname).map((operation) => operation.iid);
      operations = ids.map((id) => operationById(stack, id));
    }
    if (operations.length === 0) return [`no operation of the document answers ${request.method} ${request.target.slice(0, 200)}`];
    return validateReply(operations, reply);
  };
  if (via === 'direct') return fallback();
  const raw = reply.headers['sl-violations'];
  if (raw === undefined) return [];
  if (raw.startsWith('Too many violations!')) return fallback();
  const violations = JSON.parse(raw);
  if (violations.some((violation) => violation.message === 'Selected route not found')) return fallback();
  return violations.filter((violation) => violation.location?.[0] === 'response').map(describeViolation);
}

// The violations of the document Prism found in a forwarded request (not in its reply): a
// request the document forbids must not succeed.
export function forbiddenRequest(reply) {
  const raw = reply.headers['sl-violations'];
  if (raw === undefined || raw.startsWith('Too many violations!')) return raw === undefined ? [] : [raw];
  return JSON.parse(raw).filter((violation) => violation.location?.[0] === 'request' && violation.severity === 'Error')
    .map(describeViolation);
}

// The headers the document promises on every reply that a reply lacks or gets wrong, [] when
// it has them all.
export function missingCommonHeaders(reply) {
  const expected = { 'x-content-type-options': 'nosniff', 'referrer-policy': 'no-referrer' };
  return Object.entries(expected).filter(([name, value]) => reply.headers[name] !== value)
    .map(([name, value]) => `${name}: ${value} (got ${reply.headers[name] ?? 'none'})`);
}

// A short account of an exchange for failure messages.
export function describeExchange(exchange) {
  const { request, reply } = exchange;
  const headers = Object.entries(reply?.headers ?? {}).filter(([name]) => name !== 'sl-violations')
    .map(([name, value]) => `${name}: ${value}`).join('; ');
  const body = request.body === undefined ? '' : ` body ${JSON.stringify(String(request.body).slice(0, 300))}`;
  return `${exchange.via} ${request.method} ${request.target.slice(0, 300)}${body}\n  -> ${reply?.status} [${headers.slice(0, 600)}] ${reply?.text.slice(0, 600)}`;
}

// Whether the server still runs, and the failures it logged (a handler that threw, a connection
// ended by an error): none are expected, whatever the requests were.
// Whether the server still runs, and what it logged about requests that a test did not expect
// to fail: the server logs every 5xx and every failure inside a request under the request's id
// ("iotreg serve: request ID..."), and exchanges that expect a 5xx record their reply's id in
// `stack.expectedFailures`.
export function serverHealth(stack) {
  const log = stack.server.log.join('');
  const expected = stack.expectedFailures ?? new Set();
  return {
    running: stack.server.exitCode === null && stack.server.signalCode === null,
    failures: log.split('\n').filter((line) => {
      const logged = /^iotreg serve: request ([0-9a-f]+-[0-9a-f]+)\b/.exec(line);
      return logged ? !expected.has(logged[1]) : /^iotreg serve: .*(failed|ended by an error)/.test(line);
    }),
  };
}

// What changes whenever the registry changes: every change of state writes an audit event,
// so the newest event's id, with the counts of what a request may add, is the registry's state.
// PostgreSQL's flags are aggregated in id order: an update moves a row in its table.
const stateQuery = (flags) => 'SELECT (SELECT coalesce(max(id), 0) FROM audit_events), (SELECT count(*) FROM products), '
  + `(SELECT count(*) FROM declaration_versions), (SELECT count(*) FROM tokens), (${flags});`;
const STATE_QUERIES = {
  sqlite: stateQuery("SELECT group_concat(id || ':' || state) FROM flags"),
  postgresql: stateQuery("SELECT string_agg(id || ':' || state, ',' ORDER BY id) FROM flags"),
};

export async function registryState(stack) {
  return (await stack.database.query(STATE_QUERIES[stack.database.backend])).trim();
}
