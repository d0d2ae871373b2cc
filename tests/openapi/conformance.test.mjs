// The HTTP API against its document: every operation of schemas/openapi.yaml, with every status
// the document gives it that the server can be made to produce, through Prism's validating proxy
// (harness.mjs) in front of a real `iotreg serve`. Every exchange must be a documented status
// with the documented Content-Type, headers and body schema (no missing required member, no
// member a schema forbids); every refused request must leave the registry as it was. The last
// test proves the coverage: each documented (operation, status) was produced here, or is in
// NOT_PRODUCIBLE with the reason.
//
// Run by ctest (tests/openapi/CMakeLists.txt) as
//   IOTREG_BINARY=... IOTREG_SOURCE_DIR=... IOTREG_NODE_MODULES_DIR=... node --test conformance.test.mjs
// on SQLite, and with IOTREG_TEST_POSTGRESQL=... as well on PostgreSQL (database.mjs).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as h from './harness.mjs';

const IDLE_TIMEOUT_S = 2;
const MAX_BODY_MIB = 1;
const BUSY_TIMEOUT_MS = 200;
const ROLES = ['officer', 'manufacturer', 'admin'];

// Documented statuses this test cannot make the server produce, by operation ('*': every one).
const READS_NEVER_WAIT = 'a read never waits for a writer (SQLite\'s WAL, PostgreSQL\'s MVCC): no other process can make it busy while the server runs';
// An entry whose reason is null overrides '*': the status is produced for that operation.
const NOT_PRODUCIBLE = {
  '*': {
    500: 'answered for a damaged registry or a bug; only the product reads are made to meet damage here',
  },
  listProducts: { 500: null, 503: READS_NEVER_WAIT },
  getProduct: { 500: null, 503: READS_NEVER_WAIT },
  getHealth: {
    503: 'answered when no database connection can be opened, but a running server keeps the ones it opened',
  },
  getWebUi: {
    404: 'answered only by a binary built without the web UI',
    503: 'the web UI\'s files are served from memory: nothing makes them unavailable yet',
  },
  getWebUiAsset: { 503: 'the web UI\'s files are served from memory: nothing makes them unavailable yet' },
  getAccessibilityStatement: {
    404: 'answered only by a binary built without the statement',
    503: 'the statement is served from memory: nothing makes it unavailable',
  },
  createSession: { 503: 'a session is one row of its own, written outside the registry\'s write lock on PostgreSQL: only SQLite can be made busy, so no exchange here asks for it' },
  deleteSession: { 503: 'a session is one row of its own, written outside the registry\'s write lock on PostgreSQL: only SQLite can be made busy, so no exchange here asks for it' },
};
for (const operationId of ['getMetrics', 'getMe', 'listFlags', 'listChecks', 'exportProducts',
  'listAuditEvents', 'getStats', 'listTokens', 'getPublicProductPage', 'getPublicProductLabel',
  'listChanges', 'lookUpPublicProduct', 'listUnregisteredLookups']) {
  NOT_PRODUCIBLE[operationId] = { 503: READS_NEVER_WAIT };
}

let stack;
let ids;
const produced = new Map();  // operationId -> Set of statuses

before(async () => {
  stack = await h.startStack({
    // One public request every 5 s once a client's burst of 60 is spent, so that a client
    // over its rate stays over it however slowly this machine answers.
    serveArgs: ['--idle-timeout', String(IDLE_TIMEOUT_S), '--body-timeout', String(IDLE_TIMEOUT_S),
      '--max-body', String(MAX_BODY_MIB), '--public-rate', '0.2'],
    serverEnv: { IOTREG_BUSY_TIMEOUT_MS: String(BUSY_TIMEOUT_MS) },
    spareTokens: 3,
  });
  for (const operation of stack.operations) produced.set(operation.iid, new Set());
  ids = await lookUpIds();
});

after(async () => {
  await stack?.close();
});

// ---------------------------------------------------------------------------------------------
// Exchanges

function bodyOf(value) {
  if (value === undefined) return undefined;
  return typeof value === 'string' || Buffer.isBuffer(value) ? value : JSON.stringify(value);
}

// Sends one request (through Prism unless `via: 'direct'` or `raw` bytes are given), and checks
// the reply against the document, the expected status and, for refusals, the registry.
async function exchange(spec) {
  const {
    operationId, via = 'proxy', method = 'GET', target, token, headers = {}, contentType, expect,
  } = spec;
  const operationIds = spec.operationIds ?? [operationId];
  const body = bodyOf(spec.body);
  // Only a write may change the registry: its state is compared around every other request.
  const before = method === 'GET' ? null : await h.registryState(stack);
  let reply;
  let route = via;
  if (spec.raw !== undefined) {
    route = 'direct';
    reply = await h.rawExchange(stack.direct, spec.raw, { deadlineMs: 15_000 });
  } else {
    const outgoing = { ...h.bearer(token), ...headers };
    if (contentType) outgoing['content-type'] = contentType;
    reply = await h.send(via === 'proxy' ? stack.proxy : stack.direct, { method, target, headers: outgoing, body, localAddress: spec.localAddress });
  }
  const record = { via: route, request: { method, target, body }, reply, operationIds };
  const described = () => `${spec.name ?? ''}\n${h.describeExchange(record)}`;

  const violations = [...h.serverViolations(stack, record), ...h.missingCommonHeaders(reply)];
  assert.deepEqual(violations, [], `the reply violates the document:\n${violations.join('\n')}\n${described()}`);
  if (route === 'proxy' && reply.status < 300) {
    const forbidden = h.forbiddenRequest(reply);
    assert.deepEqual(forbidden, [], `the server accepted a request the document forbids\n${described()}`);
  }
  assert.equal(reply.status, expect, `expected ${expect}\n${described()}`);
  if (expect >= 500) {
    // The server logs every 5xx under the reply's request id, which the envelope repeats.
    const requestId = reply.headers['x-request-id'];
    assert.match(String(requestId), /^[0-9a-f]+-[0-9a-f]+$/, described());
    stack.expectedFailures = (stack.expectedFailures ?? new Set()).add(requestId);
  }

  const contentTypeOfReply = String(reply.headers['content-type'] ?? '');
  if (reply.status >= 400 && contentTypeOfReply.startsWith('application/json')) {
    const envelope = JSON.parse(reply.text);
    assert.equal(envelope.error?.status, reply.status, `the envelope repeats the status\n${described()}`);
    assert.equal(envelope.error?.code, h.ERROR_CODES[reply.status], `the envelope's code\n${described()}`);
    assert.ok(envelope.error?.message?.length > 0, `the envelope says why\n${described()}`);
    if (spec.message) assert.match(envelope.error.message, spec.message, described());
  }
  if (reply.status === 401) assert.equal(reply.headers['www-authenticate'], 'Bearer realm="iotreg"', described());
  if (reply.status >= 400 && before !== null) {
    assert.equal(await h.registryState(stack), before, `a refused request changed the registry\n${described()}`);
  }
  for (const id of operationIds) produced.get(id).add(reply.status);
  if (spec.check) spec.check(reply, described);
  return reply;
}

const json = (reply) => JSON.parse(reply.text);

async function officerGet(target) {
  const reply = await h.send(stack.direct, { target, headers: h.bearer(stack.tokens.officer) });
  assert.equal(reply.status, 200, `${target}: ${reply.text}`);
  return JSON.parse(reply.text);
}

async function lookUpIds() {
  const own = await officerGet('/api/v1/products?q=LV-C210');
  assert.equal(own.items.length, 1);
  const other = await officerGet(`/api/v1/products?manufacturer=${encodeURIComponent('Kestrel Home Networks GmbH')}&limit=1`);
  assert.equal(other.items.length, 1);
  const raised = await officerGet('/api/v1/flags?state=raised');
  assert.ok(raised.items.length >= 3, 'the samples raise at least three flags');
  const tokens = JSON.parse((await h.send(stack.direct, { target: '/api/v1/tokens', headers: h.bearer(stack.tokens.admin) })).text);
  const spare = tokens.items.slice(3).map((token) => token.id);
  assert.equal(spare.length, 3);
  return {
    ownProduct: own.items[0].id,
    otherProduct: other.items[0].id,
    raisedFlags: raised.items.map((flag) => flag.id),
    spareTokens: spare,
  };
}

// The path of an operation with valid ids in it.
function pathOf(operation) {
  return operation.path
    .replace('/products/{id}', `/products/${ids.ownProduct}`)
    .replace('/flags/{id}', `/flags/${ids.raisedFlags[ids.raisedFlags.length - 1]}`)
    .replace('/tokens/{id}', `/tokens/${ids.spareTokens[0]}`)
    .replace('{file}', 'app.js');
}

function withDatabaseLocked(body) {
  return async () => {
    // Another process (the backend's shell) holds the registry's write lock until told to let go.
    const lock = await stack.database.holdWriteLock();
    try {
      await body();
    } finally {
      await lock.release();
    }
  };
}

test('Prism can compile every schema of the document, so that it checks every one', () => {
  assert.deepEqual(h.uncompilableSchemas(stack.operations), []);
});

// ---------------------------------------------------------------------------------------------
// What every operation answers alike: tokens and roles, methods, limits, malformed requests

test('tokens and roles: 401 without a valid bearer token, 403 for a role the operation does not admit', async () => {
  for (const operation of stack.operations) {
    const roles = operation.extensions['x-roles'];
    if (roles.includes('public')) continue;
    const method = operation.method.toUpperCase();
    const base = { operationId: operation.iid, method, target: pathOf(operation), body: method === 'POST' ? '' : undefined };
    await exchange({ ...base, name: 'no token', expect: 401, message: /needs a bearer token/ });
    await exchange({ ...base, name: 'basic', headers: { authorization: 'Basic b2ZmaWNlcjpwdw==' }, expect: 401, message: /must be 'Bearer <token>'/ });
    await exchange({ ...base, name: 'unknown token', token: `iotreg_${'0'.repeat(64)}`, expect: 401, message: /unknown, revoked or expired/ });
    for (const role of ROLES.filter((candidate) => !roles.includes(candidate))) {
      await exchange({ ...base, name: role, token: stack.tokens[role], expect: 403, message: new RegExp(`a ${role} token may not ${method}`) });
    }
  }
});

test('405 with Allow for every method a documented path does not take', async () => {
  const byPath = new Map();
  for (const operation of stack.operations) {
    const target = pathOf(operation);
    if (!byPath.has(target)) byPath.set(target, []);
    byPath.get(target).push(operation);
  }
  for (const [target, operations] of byPath) {
    const allowed = operations.map((operation) => operation.method.toUpperCase()).sort();
    for (const method of ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].filter((name) => !allowed.includes(name))) {
      await exchange({
        operationIds: operations.map((operation) => operation.iid), method, target, token: stack.tokens.admin,
        body: method === 'GET' || method === 'OPTIONS' ? undefined : '', expect: 405,
        check: (reply, described) => assert.deepEqual(reply.headers.allow.split(', ').sort(), allowed, described()),
      });
    }
  }
});

test('413 for a body over the limit, before it is read', async () => {
  const big = 'x'.repeat(64 * 1024 + 1);
  for (const operation of stack.operations) {
    const method = operation.method.toUpperCase();
    // Prism forwards no body with a GET: those go to the server directly.
    await exchange({
      operationId: operation.iid, via: method === 'GET' ? 'direct' : 'proxy', method, target: pathOf(operation),
      contentType: 'text/plain', body: big, expect: 413, message: /larger than 65536 bytes/,
    });
  }
});

test('414 for a request target over 16 KiB', async () => {
  for (const operation of stack.operations) {
    const method = operation.method.toUpperCase();
    await exchange({
      operationId: operation.iid, method, target: `${pathOf(operation)}?long=${'t'.repeat(17 * 1024)}`,
      body: method === 'POST' ? '' : undefined, expect: 414, message: /at most 16 KiB/,
    });
  }
});

test('431 for more than 100 header fields', async () => {
  const headers = {};
  for (let i = 0; i < 110; ++i) headers[`x-field-${i}`] = 'v';
  for (const operation of stack.operations) {
    const method = operation.method.toUpperCase();
    await exchange({
      operationId: operation.iid, method, target: pathOf(operation), headers,
      body: method === 'POST' ? '' : undefined, expect: 431, message: /request header is too large/,
    });
  }
});

test('400 for a malformed HTTP request', async () => {
  for (const operation of stack.operations) {
    const method = operation.method.toUpperCase();
    await exchange({
      operationId: operation.iid, method, target: pathOf(operation),
      raw: `${method} ${pathOf(operation)} HTTP/1.1\r\nHost: x\r\nContent-Length: ten\r\n\r\n`,
      expect: 400, message: /Content-Length must be a whole number of bytes, not 'ten'/,
    });
  }
});

test('400 for malformed framing', async () => {
  const me = `Authorization: Bearer ${stack.tokens.officer}\r\n`;
  await exchange({ operationId: 'getMe', method: 'GET', target: '/api/v1/me', expect: 400,
    raw: `GET /api/v1/me HTTP/1.1\r\nHost: x\r\n${me}Content-Length: 0\r\nContent-Length: 5\r\nConnection: close\r\n\r\n` });
  await exchange({ operationId: 'getHealth', method: 'GET', target: '/healthz', expect: 400,
    raw: 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n' });
  await exchange({ operationId: 'getMe', method: 'GET', target: '/api/v1/me', expect: 400,
    raw: `GET /api/v1/me HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n ${stack.tokens.officer}\r\nConnection: close\r\n\r\n` });
});

test('408 when a request does not arrive whole within the idle timeout', async () => {
  // Every operation at once: each waits out the server's idle timeout.
  const halves = stack.operations.map((operation) => {
    const method = operation.method.toUpperCase();
    return exchange({
      operationId: operation.iid, method, target: pathOf(operation),
      raw: `${method} ${pathOf(operation)} HTTP/1.1\r\nHost: x\r\n`, expect: 408, message: /did not arrive in time/,
    });
  });
  const slowBody = exchange({
    operationId: 'createToken', method: 'POST', target: '/api/v1/tokens', expect: 408,
    raw: `POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${stack.tokens.admin}\r\n`
      + 'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"role":',
    message: /body did not arrive in time/,
  });
  await Promise.all([...halves, slowBody]);
});

test('503 while another process holds the registry\'s write lock', withDatabaseLocked(async () => {
  const locked = /the registry is busy with another writer; try again later/;
  await exchange({ operationId: 'importDeclarations', method: 'POST', target: '/api/v1/declarations', token: stack.tokens.admin,
    contentType: 'text/csv', body: 'manufacturer.name,product.brand,product.model\nLocked Ltd,Locked,L-1\n', expect: 503, message: locked });
  await exchange({ operationId: 'confirmFlag', method: 'POST', target: `/api/v1/flags/${ids.raisedFlags[2]}/confirm`,
    token: stack.tokens.officer, contentType: 'application/json', body: { reason: 'locked' }, expect: 503, message: locked });
  await exchange({ operationId: 'dismissFlag', method: 'POST', target: `/api/v1/flags/${ids.raisedFlags[2]}/dismiss`,
    token: stack.tokens.officer, contentType: 'application/json', body: { reason: 'locked' }, expect: 503, message: locked });
  await exchange({ operationId: 'runChecks', method: 'POST', target: '/api/v1/checks/run', token: stack.tokens.admin,
    contentType: 'application/json', body: { all: true }, expect: 503, message: locked });
  await exchange({ operationId: 'createToken', method: 'POST', target: '/api/v1/tokens', token: stack.tokens.admin,
    contentType: 'application/json', body: { role: 'officer', name: 'Lock Holder' }, expect: 503, message: locked });
  await exchange({ operationId: 'liftFlag', method: 'POST', target: `/api/v1/flags/${ids.raisedFlags[2]}/lift`,
    token: stack.tokens.officer, contentType: 'application/json', body: { reason: 'locked' }, expect: 503, message: locked });
  await exchange({ operationId: 'actOnFlags', method: 'POST', target: '/api/v1/flags/actions', token: stack.tokens.officer,
    contentType: 'application/json', body: { action: 'confirm', ids: [ids.raisedFlags[2]], reason: 'locked' }, expect: 503,
    message: locked });
  await exchange({ operationId: 'revokeToken', method: 'POST', target: `/api/v1/tokens/${ids.spareTokens[2]}/revoke`,
    token: stack.tokens.admin, body: '', expect: 503, message: locked });
}));

// ---------------------------------------------------------------------------------------------
// Each operation's own replies

test('getHealth, getMetrics, getWebUi, getWebUiAsset', async () => {
  await exchange({ operationId: 'getHealth', target: '/healthz', expect: 200,
    check: (reply) => assert.deepEqual(json(reply), { status: 'ok' }) });
  await exchange({ operationId: 'getHealth', target: '/healthz?probe=1', expect: 200 });
  for (const role of ['officer', 'admin']) {
    await exchange({ operationId: 'getMetrics', target: '/metrics', token: stack.tokens[role], expect: 200,
      check: (reply) => assert.match(reply.text, /^iotreg_http_requests_total\{route="\/healthz",status="200"\} \d+$/m) });
  }
  await exchange({ operationId: 'getWebUi', target: '/', expect: 200,
    check: (reply) => assert.match(reply.headers['content-security-policy'], /^default-src 'self'/) });
  await exchange({ operationId: 'getWebUi', target: '/?from=label', expect: 200 });
  await exchange({ operationId: 'getWebUiAsset', target: '/assets/app.js', expect: 200,
    check: (reply) => assert.equal(reply.headers['cache-control'], 'no-cache') });
  await exchange({ operationId: 'getWebUiAsset', target: '/assets/app.css', expect: 200 });
  await exchange({ operationId: 'getWebUiAsset', target: '/assets/index.html', expect: 404, message: /no such resource/ });
  await exchange({ operationId: 'getWebUiAsset', target: '/assets/%2e%2e%2fCMakeLists.txt', expect: 404 });
  // A target that cannot be decoded is malformed, on paths that ignore the query too.
  for (const [operationId, target] of [['getHealth', '/healthz'], ['getMetrics', '/metrics'], ['getWebUi', '/'], ['getWebUiAsset', '/assets/app.css']]) {
    await exchange({ operationId, target, raw: `GET ${target}?bad=%zz HTTP/1.1\r\nHost: x\r\n\r\n`, expect: 400, message: /malformed request target/ });
  }
});

test('getAccessibilityStatement', async () => {
  const target = '/accessibility';
  await exchange({ operationId: 'getAccessibilityStatement', target, expect: 200,
    check: (reply) => assert.match(reply.text, /<h1>Accessibility statement for /) });
  await exchange({ operationId: 'getAccessibilityStatement', target: `${target}?from=label`, expect: 200 });
  const tagged = await h.send(stack.direct, { target });
  await exchange({ operationId: 'getAccessibilityStatement', target, headers: { 'if-none-match': tagged.headers.etag },
    expect: 304, check: (reply) => assert.equal(reply.text, '') });
  await exchange({ operationId: 'getAccessibilityStatement', target, raw: `GET ${target}?bad=%zz HTTP/1.1\r\nHost: x\r\n\r\n`,
    expect: 400, message: /malformed request target/ });
});

test('getMe', async () => {
  for (const role of ROLES) {
    await exchange({ operationId: 'getMe', target: '/api/v1/me', token: stack.tokens[role], expect: 200,
      check: (reply) => {
        const me = json(reply);
        assert.equal(me.role, role);
        assert.equal(me.actor, `Test Holder (${role}, token ${me.token_id})`);
        assert.equal(me.manufacturer, role === 'manufacturer' ? h.LUMORA : null);
      } });
  }
  await exchange({ operationId: 'getMe', target: '/api/v1/me?verbose=1', token: stack.tokens.officer, expect: 400,
    message: /unknown query parameter 'verbose' \(this endpoint takes none\)/ });
});

test('createSession and deleteSession', async () => {
  const target = '/api/v1/session';
  const cookies = {};
  for (const role of ROLES) {
    const reply = await exchange({ operationId: 'createSession', method: 'POST', target, contentType: 'application/json',
      body: { token: stack.tokens[role] }, expect: 201,
      check: (answer) => {
        assert.equal(json(answer).role, role);
        assert.match(String(answer.headers['set-cookie']), /^iotreg_session=[0-9a-f]{64}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=43200$/);
      } });
    cookies[role] = String(reply.headers['set-cookie']).split(';')[0];
  }
  await exchange({ operationId: 'createSession', method: 'POST', target, token: stack.tokens.officer, body: '', expect: 201 });
  for (const [body, message] of [['', /sign in with a token/], [{ token: 'x', role: 'admin' }, /unknown field 'role'/]]) {
    await exchange({ operationId: 'createSession', method: 'POST', target, contentType: 'application/json', body, expect: 400, message });
  }
  await exchange({ operationId: 'createSession', method: 'POST', target: `${target}?token=x`, body: '', expect: 400,
    message: /unknown query parameter 'token'/ });
  await exchange({ operationId: 'createSession', method: 'POST', target, contentType: 'application/json',
    body: { token: `iotreg_${'0'.repeat(64)}` }, expect: 401, message: /unknown, revoked or expired/ });
  await exchange({ operationId: 'createSession', method: 'POST', target, contentType: 'text/plain', body: stack.tokens.officer,
    expect: 415 });

  // The cookie authenticates (sent directly: Prism does not forward cookies it was not told of).
  const withCookie = (role, extra = {}) => ({ cookie: cookies[role], ...extra });
  await exchange({ operationId: 'getMe', via: 'direct', target: '/api/v1/me', headers: withCookie('manufacturer'), expect: 200,
    check: (reply) => assert.equal(json(reply).role, 'manufacturer') });
  await exchange({ operationId: 'deleteSession', via: 'direct', method: 'DELETE', target, headers: withCookie('officer'),
    expect: 403, message: /must carry the header X-Requested-With/ });
  await exchange({ operationId: 'deleteSession', method: 'DELETE', target: `${target}?all=1`, token: stack.tokens.officer, expect: 400,
    message: /unknown query parameter 'all'/ });
  await exchange({ operationId: 'deleteSession', via: 'direct', method: 'DELETE', target, token: stack.tokens.officer,
    contentType: 'text/plain', body: 'everything', expect: 400, message: /takes no body/ });
  await exchange({ operationId: 'deleteSession', method: 'DELETE', target, token: stack.tokens.officer, expect: 200,
    check: (reply) => assert.equal(json(reply).ended, false) });
  await exchange({ operationId: 'deleteSession', via: 'direct', method: 'DELETE', target,
    headers: withCookie('officer', { 'x-requested-with': 'conformance' }), expect: 200,
    check: (reply) => assert.equal(json(reply).ended, true) });
  await exchange({ operationId: 'getMe', via: 'direct', target: '/api/v1/me', headers: withCookie('officer'), expect: 401,
    message: /the session has ended or expired/ });
});

test('listProducts', async () => {
  const target = '/api/v1/products';
  for (const role of ROLES) await exchange({ operationId: 'listProducts', target, token: stack.tokens[role], expect: 200 });
  const first = await exchange({ operationId: 'listProducts', target: `${target}?status=non_compliant&flagged=true&limit=3`,
    token: stack.tokens.officer, expect: 200,
    check: (reply) => {
      const page = json(reply);
      assert.equal(page.items.length, 3);
      assert.ok(page.items.every((item) => item.status === 'non_compliant' && item.flagged));
      assert.ok(page.facets.status.non_compliant > 3);
      assert.equal(typeof page.next_cursor, 'string');
    } });
  await exchange({ operationId: 'listProducts', target: `${target}?status=non_compliant&flagged=true&limit=3&cursor=${json(first).next_cursor}`,
    token: stack.tokens.officer, expect: 200,
    check: (reply) => {
      const page = json(reply);
      assert.equal(page.facets, undefined, 'facets only on the first page');
      assert.ok(page.items[0].id > json(first).items[2].id);
    } });
  await exchange({ operationId: 'listProducts', target: `${target}?q=camera&type=${encodeURIComponent('indoor smart camera')}&manufacturer=lumora%20VISION%20ltd`,
    token: stack.tokens.officer, expect: 200 });
  await exchange({ operationId: 'listProducts', target: '/api/v1/products?flag_state=raised&limit=500', token: stack.tokens.officer,
    expect: 200, check: (reply) => assert.ok(json(reply).items.length > 0
      && json(reply).items.every((product) => product.flag_state === 'raised' && product.flagged)) });
  await exchange({ operationId: 'listProducts', target: '/api/v1/products?flag_state=open', token: stack.tokens.officer, expect: 400,
    message: /flag_state must be raised, withdrawn, confirmed, dismissed or lifted/ });
  await exchange({ operationId: 'listProducts', target: `${target}?flagged=false`, token: stack.tokens.manufacturer, expect: 200,
    check: (reply) => assert.ok(json(reply).items.every((item) => item.manufacturer === h.LUMORA)) });
  for (const [query, message] of [
    ['status=pending_review', /status must be one of/],
    ['flagged=yes', /flagged must be true or false/],
    ['limit=0', /limit must be a whole number from 1 to 500/],
    ['limit=501', /limit must be a whole number from 1 to 500/],
    ['limit=ten', /limit must be a whole number from 1 to 500/],
    ['cursor=%21%21', /not a cursor of this list/],
    [`cursor=${Buffer.from('flags:3').toString('base64url')}`, /not a cursor of this list/],
    ['page=2', /unknown query parameter 'page' \(known: status, flagged, flag_state, remedied, manufacturer, type, class, failing, support_ends_before, support_ends_after, changed_since, q, limit, cursor\)/],
    ['status=compliant&status=excepted', /query parameter 'status' is given more than once/],
    [`q=${'w'.repeat(1001)}`, /q is longer than 1000 characters/],
  ]) {
    await exchange({ operationId: 'listProducts', target: `${target}?${query}`, token: stack.tokens.officer, expect: 400, message });
  }
});

test('getProduct', async () => {
  const own = `/api/v1/products/${ids.ownProduct}`;
  for (const role of ROLES) {
    await exchange({ operationId: 'getProduct', target: own, token: stack.tokens[role], expect: 200,
      check: (reply) => {
        const product = json(reply);
        assert.equal(product.id, ids.ownProduct);
        assert.equal(product.evaluation.checks.length, product.findings.length);
      } });
  }
  await exchange({ operationId: 'getProduct', target: `${own}?full=1`, token: stack.tokens.officer, expect: 400, message: /unknown query parameter 'full'/ });
  for (const id of ['999999', 'abc', '0', '-1', '1e3']) {
    await exchange({ operationId: 'getProduct', target: `/api/v1/products/${id}`, token: stack.tokens.officer, expect: 404 });
  }
  await exchange({ operationId: 'getProduct', target: `/api/v1/products/${ids.otherProduct}`, token: stack.tokens.manufacturer,
    expect: 404, message: new RegExp(`no product with id ${ids.otherProduct}`) });
});

test('importDeclarations', async () => {
  const target = '/api/v1/declarations';
  const sample = (name) => fs.readFileSync(path.join(h.samplesDir, name), 'utf8');
  const declaration = JSON.parse(sample('03-tessellate.jsonl').split('\n')[0]);
  const fresh = (model) => ({ ...declaration, product: { ...declaration.product, model } });
  const accepted = (rejected) => (reply) => {
    const report = json(reply);
    assert.ok(report.counts.accepted > 0);
    assert.equal(report.counts.rejected, rejected);
  };
  await exchange({ operationId: 'importDeclarations', method: 'POST', target: `${target}?dry_run=true`, token: stack.tokens.manufacturer,
    contentType: 'text/csv', body: sample('01-lumora-vision.csv'), expect: 207, check: accepted(1) });
  // A charset other than UTF-8 and Windows-1252 is refused before anything is read.
  await exchange({ operationId: 'importDeclarations', method: 'POST', target, token: stack.tokens.manufacturer,
    contentType: 'text/csv; charset=koi8-r', body: sample('01-lumora-vision.csv'), expect: 415, message: /charset 'koi8-r' is not supported/ });
  // The web UI's upload: one file part, its format from its type or its name.
  const boundary = 'conformance-boundary';
  const filePart = (disposition, content) => `--${boundary}\r\nContent-Disposition: form-data; ${disposition}\r\n`
    + `Content-Type: application/octet-stream\r\n\r\n${content}\r\n--${boundary}--\r\n`;
  await exchange({ operationId: 'importDeclarations', via: 'direct', method: 'POST', target: `${target}?dry_run=true`,
    token: stack.tokens.manufacturer, contentType: `multipart/form-data; boundary=${boundary}`,
    body: filePart('name="file"; filename="lumora.csv"', sample('01-lumora-vision.csv')), expect: 207, check: accepted(1) });
  for (const [body, message] of [[filePart('name="note"', 'hello'), /is not a file/],
    [filePart('name="file"; filename="lumora.csv"', 'x').replaceAll(boundary, 'other'), /does not occur in it/]]) {
    await exchange({ operationId: 'importDeclarations', via: 'direct', method: 'POST', target, token: stack.tokens.manufacturer,
      contentType: `multipart/form-data; boundary=${boundary}`, body, expect: 400, message });
  }
  for (const [contentType, file] of [
    // Files whose every record is its product's latest version: nothing new.
    ['text/csv; charset=utf-8', '05-autumn-2026-resubmissions.csv'], ['application/x-ndjson', '03-tessellate.jsonl'],
    ['application/jsonl', '03-tessellate.jsonl'], ['application/json-lines', '03-tessellate.jsonl'],
    ['application/yaml', '04-spring-2026-submissions.yaml'], ['application/x-yaml', '01-kestrel-networks.yaml'],
    ['text/yaml', '04-spring-2026-submissions.yaml'],
  ]) {
    // A file with a rejected record is a partial success (207), one without a complete one.
    const partial = file !== '04-spring-2026-submissions.yaml';
    await exchange({ operationId: 'importDeclarations', method: 'POST', target, token: stack.tokens.admin, contentType,
      body: sample(file), expect: partial ? 207 : 200, check: (reply) => {
        assert.equal(json(reply).run_id, null, 'nothing new');
        assert.equal(json(reply).outcome, partial ? 'partial' : 'complete');
      } });
  }
  await exchange({ operationId: 'importDeclarations', method: 'POST', target, token: stack.tokens.admin, contentType: 'application/json',
    body: [fresh('TP-API-1'), fresh('TP-API-2')], expect: 200,
    check: (reply) => {
      const report = json(reply);
      assert.equal(report.counts.new_products, 2);
      assert.equal(typeof report.run_id, 'number');
    } });
  await exchange({ operationId: 'importDeclarations', method: 'POST', target: `${target}?dry_run=false`, token: stack.tokens.admin,
    contentType: 'application/json', body: fresh('TP-API-3'), expect: 200 });

  for (const [query, body, message] of [
    ['?dry_run=maybe', 'x', /dry_run must be true or false/],
    ['', '', /the body is empty/],
    ['', ' \n\t', /the body is empty/],
    ['?format=csv', 'x', /unknown query parameter 'format' \(known: dry_run\)/],
  ]) {
    await exchange({ operationId: 'importDeclarations', method: 'POST', target: target + query, token: stack.tokens.admin,
      contentType: 'text/csv', body, expect: 400, message });
  }
  await exchange({ operationId: 'importDeclarations', method: 'POST', target, token: stack.tokens.admin, contentType: 'text/plain',
    body: 'manufacturer.name\nAcme\n', expect: 415, message: /got 'text\/plain'/ });
  await exchange({ operationId: 'importDeclarations', method: 'POST', target, token: stack.tokens.admin, contentType: 'text/csv',
    body: `manufacturer.name,product.brand,product.model,declaration.reference\n${`Big Ltd,Big,B-1,${'r'.repeat(150)}\n`.repeat(7500)}`,
    expect: 413, message: /larger than 1048576 bytes/ });

  const impossible = fresh('TP-API-4');
  impossible.support = { end_date: '2027-02-30' };
  for (const [token, contentType, body, message, check] of [
    [stack.tokens.admin, 'application/json', [impossible], /every record was rejected/,
      (report) => assert.deepEqual(report.rejected[0].issues.map((issue) => issue.field), ['support.end_date'])],
    [stack.tokens.manufacturer, 'application/json', fresh('TP-API-5'), /every record was rejected/,
      (report) => assert.match(report.rejected[0].issues[0].reason, /Lumora Vision Ltd/)],
    [stack.tokens.admin, 'text/csv', 'manufacturer.name,product.colour\nAcme,red\n', /product\.colour/, () => {}],
    [stack.tokens.admin, 'application/yaml', '- [unbalanced', /no declaration was accepted/, () => {}],
    [stack.tokens.admin, 'text/csv', 'manufacturer.name,product.brand,product.model\n', /the body holds no declarations/,
      (report) => assert.equal(report.counts.records, 0)],
  ]) {
    await exchange({ operationId: 'importDeclarations', method: 'POST', target, token, contentType, body, expect: 422, message,
      check: (reply) => check(json(reply).error.report) });
  }
});

test('listFlags', async () => {
  for (const role of ROLES) await exchange({ operationId: 'listFlags', target: '/api/v1/flags', token: stack.tokens[role], expect: 200 });
  const first = await exchange({ operationId: 'listFlags', target: '/api/v1/flags?state=raised&limit=1', token: stack.tokens.officer, expect: 200 });
  await exchange({ operationId: 'listFlags', target: `/api/v1/flags?state=raised&limit=1&cursor=${json(first).next_cursor}`,
    token: stack.tokens.officer, expect: 200, check: (reply) => assert.ok(json(reply).items[0].id > json(first).items[0].id) });
  await exchange({ operationId: 'listFlags', target: '/api/v1/flags?sort=-raised_at&manufacturer=ORRIN&limit=500', token: stack.tokens.officer,
    expect: 200, check: (reply) => {
      const flags = json(reply).items;
      assert.ok(flags.length > 0 && flags.every((flag) => /orrin/i.test(flag.manufacturer)));
      assert.deepEqual(flags.map((flag) => flag.id), flags.map((flag) => flag.id).sort((a, b) => b - a));
    } });
  for (const [query, message] of [['state=open', /state must be raised, withdrawn, confirmed, dismissed or lifted/],
    ['cursor=bm90LWEtY3Vyc29y', /not a cursor of this list/], ['limit=-1', /limit must be/], ['order=desc', /unknown query parameter 'order'/],
    ['sort=updated_at', /sort must be raised_at/]]) {
    await exchange({ operationId: 'listFlags', target: `/api/v1/flags?${query}`, token: stack.tokens.officer, expect: 400, message });
  }
});

// The refusals both flag actions share; `id` names a flag in a state that allows the action.
async function flagActionRefusals(operationId, action, id) {
  const target = `/api/v1/flags/${id}/${action}`;
  const officer = stack.tokens.officer;
  for (const [body, message] of [
    ['', /must give a reason/], [{}, /must give a reason/], [{ reason: null }, /must give a reason/],
    [{ reason: ' \t ' }, /reason must say why/], [{ reason: 7 }, /field 'reason' has the wrong type \(expected string\)/],
    [{ reason: 'ok', extra: 1 }, /unknown field 'extra' in the body/], [['reason'], /must be a JSON object/],
    [{ reason: 'r'.repeat(4001) }, /longer than 4000 bytes/],
  ]) {
    await exchange({ operationId, method: 'POST', target, token: officer, contentType: 'application/json', body, expect: 400, message });
  }
  // Malformed JSON cannot pass through Prism, which parses JSON bodies before forwarding them.
  await exchange({ operationId, via: 'direct', method: 'POST', target, token: officer, contentType: 'application/json',
    body: '{"reason": ', expect: 400, message: /not valid JSON/ });
  if (action !== 'confirm') {
    await exchange({ operationId, method: 'POST', target, token: officer, contentType: 'application/json',
      body: { reason: 'ok', notice: 'N-1' }, expect: 400, message: /a notice reference goes with confirm only/ });
  }
  await exchange({ operationId, method: 'POST', target: `${target}?notice=N-1`, token: officer, contentType: 'application/json',
    body: { reason: 'ok' }, expect: 400, message: /unknown query parameter 'notice'/ });
  await exchange({ operationId, method: 'POST', target, token: officer, contentType: 'text/plain', body: 'checked on a unit',
    expect: 415, message: /must be JSON/ });
  for (const unknown of ['999999', 'abc', '0']) {
    await exchange({ operationId, method: 'POST', target: `/api/v1/flags/${unknown}/${action}`, token: officer,
      contentType: 'application/json', body: { reason: 'ok' }, expect: 404 });
  }
}

test('confirmFlag, dismissFlag, liftFlag and actOnFlags', async () => {
  const [first, second, third, fourth] = ids.raisedFlags;
  await flagActionRefusals('confirmFlag', 'confirm', first);
  await flagActionRefusals('dismissFlag', 'dismiss', second);
  await flagActionRefusals('liftFlag', 'lift', first);
  const act = (operationId, action, id, expect, state) => exchange({
    operationId, method: 'POST', target: `/api/v1/flags/${id}/${action}`, token: stack.tokens.officer,
    contentType: 'application/json; charset=UTF-8', body: { reason: `${action} after a test purchase` }, expect,
    check: (reply) => { if (state) assert.equal(json(reply).state, state); },
  });
  await act('confirmFlag', 'confirm', first, 200, 'confirmed');
  await act('confirmFlag', 'confirm', first, 409);
  await act('dismissFlag', 'dismiss', first, 200, 'dismissed');
  await act('dismissFlag', 'dismiss', first, 409);
  await act('dismissFlag', 'dismiss', second, 200, 'dismissed');
  await act('confirmFlag', 'confirm', second, 409);
  await act('liftFlag', 'lift', second, 409);
  // Several flags at once, all or none, with a notice reference on confirm.
  const bulk = (body, expect, rest = {}) => exchange({
    operationId: 'actOnFlags', method: 'POST', target: '/api/v1/flags/actions', token: stack.tokens.officer,
    contentType: 'application/json', body, expect, ...rest,
  });
  await bulk({ action: 'confirm', ids: [third, second], reason: 'both' }, 409,
    { message: new RegExp(`flag ${second} is dismissed; only a raised flag can be confirmed`) });
  await bulk({ action: 'confirm', ids: [third, 999999], reason: 'both' }, 404, { message: /no flag with id 999999/ });
  await bulk({ action: 'confirm', ids: [third, third], reason: 'twice' }, 400, { message: /is named twice/ });
  await bulk({ action: 'promote', ids: [third], reason: 'x' }, 400, { message: /action must be confirm, dismiss or lift/ });
  await bulk({ action: 'confirm', ids: [], reason: 'x' }, 400, { message: /ids must list from 1 to 500 flag ids/ });
  await bulk({ action: 'confirm', ids: [third, fourth], reason: 'test purchases', notice: 'SN-2026-0141' }, 200,
    { check: (reply) => {
      const flags = json(reply).items;
      assert.deepEqual(flags.map((flag) => [flag.id, flag.state, flag.notice]),
        [[third, 'confirmed', 'SN-2026-0141'], [fourth, 'confirmed', 'SN-2026-0141']]);
      assert.deepEqual(flags[0].history.map((entry) => entry.state), ['raised', 'confirmed']);
      assert.equal(flags[0].history[1].actor, 'Test Holder (officer, token 1)');
    } });
  await act('liftFlag', 'lift', third, 200, 'lifted');
  await exchange({ operationId: 'actOnFlags', method: 'POST', target: '/api/v1/flags/actions', token: stack.tokens.officer,
    contentType: 'text/plain', body: 'lift', expect: 415, message: /must be JSON/ });
});

test('listChanges', async () => {
  for (const role of ROLES) {
    await exchange({ operationId: 'listChanges', target: '/api/v1/changes?limit=5', token: stack.tokens[role], expect: 200 });
  }
  await exchange({ operationId: 'listChanges', target: '/api/v1/changes?since=2026-01-01', token: stack.tokens.officer, expect: 200,
    check: (reply) => assert.ok(json(reply).items.every((change) => change.at >= '2026-01-01')) });
  await exchange({ operationId: 'listChanges', target: '/api/v1/changes?since_run=1&limit=2', token: stack.tokens.officer,
    expect: 200, check: (reply) => assert.equal(json(reply).items.length, 2) });
  for (const [query, message] of [['since=yesterday', /since must be a date/], ['since_run=0', /since_run must be/],
    ['cursor=zz', /cursor/], ['verbose=1', /unknown query parameter 'verbose'/]]) {
    await exchange({ operationId: 'listChanges', target: `/api/v1/changes?${query}`, token: stack.tokens.officer, expect: 400, message });
  }
});

test('listChecks', async () => {
  for (const role of ROLES) {
    await exchange({ operationId: 'listChecks', target: '/api/v1/checks', token: stack.tokens[role], expect: 200,
      check: (reply) => {
        const list = json(reply);
        assert.deepEqual(list.items.map((check) => check.id).sort(), ['default-password', 'scope', 'statement', 'support-expiry',
          'support-period', 'third-party-label', 'vulnerability-disclosure']);
        // The built-in plugins, run from their own directory, are trusted: in process.
        assert.ok(list.items.every((check) => check.isolated === false));
        assert.equal(list.policy.id, 'dcms-2019');
        assert.equal(list.as_of, h.AS_OF);
      } });
  }
  await exchange({ operationId: 'listChecks', target: '/api/v1/checks?limit=5', token: stack.tokens.officer, expect: 400,
    message: /this endpoint takes none/ });
});

test('runChecks', async () => {
  const target = '/api/v1/checks/run';
  const admin = stack.tokens.admin;
  await exchange({ operationId: 'runChecks', method: 'POST', target, token: admin, contentType: 'application/json',
    body: { all: true, dry_run: true }, expect: 200,
    check: (reply) => {
      const report = json(reply);
      assert.equal(report.dry_run, true);
      assert.ok(report.checked > 50);
    } });
  await exchange({ operationId: 'runChecks', method: 'POST', target, token: admin, body: '', expect: 200,
    check: (reply) => assert.equal(json(reply).dry_run, false) });
  await exchange({ operationId: 'runChecks', method: 'POST', target, token: admin, contentType: 'application/json', body: { all: true },
    expect: 200, check: (reply) => assert.equal(json(reply).status_changes, 0) });
  for (const [body, message] of [[{ all: 'yes' }, /field 'all' has the wrong type/], [{ force: true }, /unknown field 'force'/],
    [{ dry_run: null }, /field 'dry_run' must be true or false/],
    [[true], /must be a JSON object/]]) {
    await exchange({ operationId: 'runChecks', method: 'POST', target, token: admin, contentType: 'application/json', body, expect: 400, message });
  }
  await exchange({ operationId: 'runChecks', via: 'direct', method: 'POST', target, token: admin, contentType: 'application/json',
    body: '{"all": tru', expect: 400, message: /not valid JSON/ });
  await exchange({ operationId: 'runChecks', method: 'POST', target: `${target}?all=true`, token: admin, body: '', expect: 400,
    message: /unknown query parameter 'all'/ });
  await exchange({ operationId: 'runChecks', method: 'POST', target, token: admin, contentType: 'application/x-www-form-urlencoded',
    body: 'all=true', expect: 415 });
});

test('exportProducts', async () => {
  const target = '/api/v1/export';
  await exchange({ operationId: 'exportProducts', target, token: stack.tokens.officer, expect: 200,
    check: (reply) => {
      const lines = reply.text.trim().split('\n').map((line) => JSON.parse(line));
      assert.ok(lines.length > 50);
      assert.match(reply.headers['content-disposition'], /iotreg-products\.ndjson/);
    } });
  await exchange({ operationId: 'exportProducts', target: `${target}?format=csv&status=non_compliant`, token: stack.tokens.admin, expect: 200,
    check: (reply) => assert.ok(reply.text.startsWith('id,manufacturer,brand,model,type,status,flagged,label_id,version_count,updated_at,flag_state,flag_id,remedied,support_end,failing_checks,class,last_declared\n')) });
  await exchange({ operationId: 'exportProducts', target: `${target}?format=ndjson&flagged=false`, token: stack.tokens.manufacturer, expect: 200,
    check: (reply) => assert.ok(reply.text.trim().split('\n').every((line) => JSON.parse(line).manufacturer === h.LUMORA)) });
  await exchange({ operationId: 'exportProducts', via: 'direct', target: `${target}?format=xlsx`, token: stack.tokens.officer, expect: 200,
    check: (reply) => {
      assert.equal(reply.headers['content-type'], 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet');
      assert.match(reply.headers['content-disposition'], /iotreg-products\.xlsx/);
      assert.ok(reply.text.startsWith('PK'), 'a ZIP archive');
    } });
  for (const [query, message] of [['format=xls', /format must be csv, ndjson or xlsx/], ['format=xlsx&bom=true', /bom applies to format=csv only/],
    ['status=gone', /status must be one of/], ['limit=5', /unknown query parameter 'limit'/]]) {
    await exchange({ operationId: 'exportProducts', target: `${target}?${query}`, token: stack.tokens.officer, expect: 400, message });
  }
});

test('listAuditEvents', async () => {
  const target = '/api/v1/audit';
  for (const role of ['officer', 'admin']) await exchange({ operationId: 'listAuditEvents', target, token: stack.tokens[role], expect: 200 });
  await exchange({ operationId: 'listAuditEvents', target: `${target}?product=${ids.ownProduct}`, token: stack.tokens.officer, expect: 200,
    check: (reply) => assert.ok(json(reply).items.length > 0) });
  const admin = 'Test Holder (admin, token 3)';
  await exchange({ operationId: 'listAuditEvents', target: `${target}?actor=${encodeURIComponent(admin)}`, token: stack.tokens.officer,
    expect: 200, check: (reply) => assert.ok(json(reply).items.every((event) => event.actor === admin)) });
  // The samples' import runs are audited: more than one page of one.
  const first = await exchange({ operationId: 'listAuditEvents', target: `${target}?limit=1`, token: stack.tokens.officer, expect: 200,
    check: (reply) => assert.equal(typeof json(reply).next_cursor, 'string') });
  // Newest first: the next page continues with older events.
  await exchange({ operationId: 'listAuditEvents', target: `${target}?limit=1&cursor=${json(first).next_cursor}`,
    token: stack.tokens.officer, expect: 200, check: (reply) => assert.ok(json(reply).items[0].id < json(first).items[0].id) });
  await exchange({ operationId: 'listAuditEvents', target: `${target}?since=2026-01-01&until=2999-12-31`, token: stack.tokens.officer,
    expect: 200, check: (reply) => assert.ok(json(reply).items.length > 0) });
  for (const [query, message] of [['product=abc', /product must be a product id/], ['product=0', /product must be a product id/],
    ['cursor=YXVkaXQ6MA', /not a cursor of this list/], ['since=2026-02-30', /since must be a date/],
    ['since=2026-12-02&until=2026-12-01', /until must not be before since/], ['from=2026-01-01', /unknown query parameter 'from'/]]) {
    await exchange({ operationId: 'listAuditEvents', target: `${target}?${query}`, token: stack.tokens.officer, expect: 400, message });
  }
  await exchange({ operationId: 'listAuditEvents', target: `${target}?product=999999`, token: stack.tokens.officer, expect: 404,
    message: /no product with id 999999/ });
});

test('getStats', async () => {
  for (const role of ROLES) {
    await exchange({ operationId: 'getStats', target: '/api/v1/stats', token: stack.tokens[role], expect: 200,
      check: (reply) => assert.equal(json(reply).support_end_by_quarter[0].quarter, '2026-Q4') });
  }
  await exchange({ operationId: 'getStats', target: '/api/v1/stats?year=2027', token: stack.tokens.officer, expect: 400, message: /unknown query parameter 'year'/ });
});

test('listTokens, createToken and revokeToken', async () => {
  const admin = stack.tokens.admin;
  const first = await exchange({ operationId: 'listTokens', target: '/api/v1/tokens?limit=2', token: admin, expect: 200,
    check: (reply) => assert.deepEqual(json(reply).items.map((token) => token.role), ['officer', 'manufacturer']) });
  await exchange({ operationId: 'listTokens', target: `/api/v1/tokens?cursor=${json(first).next_cursor}`, token: admin, expect: 200,
    check: (reply) => assert.equal(json(reply).items[0].role, 'admin') });
  await exchange({ operationId: 'listTokens', target: '/api/v1/tokens?limit=many', token: admin, expect: 400, message: /limit must be/ });

  const create = (body, expect, rest = {}) => exchange({
    operationId: 'createToken', method: 'POST', target: '/api/v1/tokens', token: admin, contentType: 'application/json', body, expect, ...rest,
  });
  const made = await create({ role: 'officer', name: 'Jane Smith' }, 201, { check: (reply) => {
    assert.match(json(reply).token, /^iotreg_[0-9a-f]{64}$/);
    assert.equal(json(reply).holder, 'Jane Smith');
  } });
  await create({ role: 'manufacturer', name: 'Nils Nido', manufacturer: 'Nidocare AB', expires: '2030-01-01' }, 201,
    { check: (reply) => assert.equal(json(reply).expires, '2030-01-01') });
  await create({ role: 'admin', name: 'Ada Admin', manufacturer: null, expires: null }, 201);
  const name = 'Jane Smith';
  for (const [body, message] of [
    [{}, /role must be officer, manufacturer or admin/], [{ role: 'root', name }, /role must be/],
    [{ role: 'officer' }, /a token needs the name of the person who holds it/],
    [{ role: 'officer', name: '  ' }, /a token needs the name of the person who holds it/],
    [{ role: 'manufacturer', name }, /needs the manufacturer's name/], [{ role: 'officer', name, manufacturer: 'Acme' }, /only for role manufacturer/],
    [{ role: 'officer', name, expires: '2020-01-01' }, /past/], [{ role: 'officer', name, expires: '2027-02-30' }, /calendar date/],
    [{ role: 7 }, /field 'role' has the wrong type/], [{ role: 'officer', name, holder: 'Jane' }, /unknown field 'holder'/],
  ]) {
    await create(body, 400, { message });
  }
  await exchange({ operationId: 'createToken', via: 'direct', method: 'POST', target: '/api/v1/tokens', token: admin,
    contentType: 'application/json', body: '{role: officer}', expect: 400, message: /not valid JSON/ });
  await exchange({ operationId: 'createToken', method: 'POST', target: '/api/v1/tokens?role=officer', token: admin,
    contentType: 'application/json', body: { role: 'officer', name: 'Jane Smith' }, expect: 400,
    message: /unknown query parameter 'role'/ });
  await exchange({ operationId: 'createToken', method: 'POST', target: '/api/v1/tokens', token: admin, contentType: 'text/yaml',
    body: 'role: officer', expect: 415 });

  const revoke = (id, expect, rest = {}) => exchange({
    operationId: 'revokeToken', method: 'POST', target: `/api/v1/tokens/${id}/revoke`, token: admin, body: '', expect, ...rest,
  });
  await revoke(json(made).id, 200, { check: (reply) => assert.equal(typeof json(reply).revoked_at, 'string') });
  await revoke(json(made).id, 409, { message: /already revoked/ });
  await revoke(999999, 404, { message: /no token with id 999999/ });
  await revoke('abc', 404);
  await exchange({ operationId: 'revokeToken', method: 'POST', target: `/api/v1/tokens/${ids.spareTokens[1]}/revoke?now=1`, token: admin,
    body: '', expect: 400, message: /unknown query parameter 'now'/ });
  // A body, if any, is ignored.
  await exchange({ operationId: 'revokeToken', method: 'POST', target: `/api/v1/tokens/${ids.spareTokens[1]}/revoke`, token: admin,
    contentType: 'text/plain', body: 'because', expect: 200 });
});

test('getPublicProductPage and getPublicProductLabel', async () => {
  const page = `/public/products/${ids.ownProduct}`;
  await exchange({ operationId: 'getPublicProductPage', target: page, expect: 200,
    check: (reply) => assert.match(reply.text, /LV-C210/) });
  await exchange({ operationId: 'getPublicProductPage', target: page, token: stack.tokens.officer, expect: 200 });
  // A copy the client holds is still current: 304, no body; another tag gets the page.
  const tagged = await h.send(stack.direct, { target: page });
  await exchange({ operationId: 'getPublicProductPage', target: page, headers: { 'if-none-match': tagged.headers.etag },
    expect: 304, check: (reply) => assert.equal(reply.text, '') });
  await exchange({ operationId: 'getPublicProductPage', target: page, headers: { 'if-none-match': '"0000000000000000"' },
    expect: 200, check: (reply) => assert.equal(reply.headers.etag, tagged.headers.etag) });
  await exchange({ operationId: 'getPublicProductPage', target: `${page}?lang=en`, expect: 400,
    check: (reply) => assert.match(reply.headers['content-type'], /^text\/html/) });
  await exchange({ operationId: 'getPublicProductPage', target: '/public/products/999999', expect: 404,
    check: (reply) => assert.match(reply.text, /No product with id 999999/) });
  await exchange({ operationId: 'getPublicProductPage', target: '/public/products/abc', expect: 404,
    check: (reply) => assert.equal(json(reply).error.code, 'not_found') });
  await exchange({ operationId: 'getPublicProductPage', target: page, raw: `GET ${page}?bad=%zz HTTP/1.1\r\nHost: x\r\n\r\n`,
    expect: 400, message: /malformed request target/ });

  const label = `${page}/label.svg`;
  await exchange({ operationId: 'getPublicProductLabel', target: label, expect: 200,
    check: (reply) => assert.match(reply.text, /^<svg|^<\?xml/) });
  await exchange({ operationId: 'getPublicProductLabel', target: label, headers: { 'if-none-match': '*' }, expect: 304 });
  await exchange({ operationId: 'getPublicProductLabel', target: `${label}?size=2`, expect: 400, message: /unknown query parameter 'size'/ });
  await exchange({ operationId: 'getPublicProductLabel', target: '/public/products/999999/label.svg', expect: 404 });
  await exchange({ operationId: 'getPublicProductLabel', target: '/public/products/-4/label.svg', expect: 404 });
});

test('lookUpPublicProduct and listUnregisteredLookups', async () => {
  const target = '/public/lookup';
  const html = (reply) => assert.match(reply.headers['content-type'], /^text\/html; charset=utf-8$/);
  await exchange({ operationId: 'lookUpPublicProduct', target, expect: 200,
    check: (reply) => assert.match(reply.text, /<form method="get" action="lookup">/) });
  const tagged = await h.send(stack.direct, { target });
  await exchange({ operationId: 'lookUpPublicProduct', target, headers: { 'if-none-match': tagged.headers.etag }, expect: 304 });
  // One product: a redirect to its page, relative to the lookup.
  for (const query of ['gtin=5060412873017', 'gtin=05060412873017', 'brand=LUMORA&model=lv-c210']) {
    await exchange({ operationId: 'lookUpPublicProduct', via: 'direct', target: `${target}?${query}`, expect: 302,
      check: (reply) => assert.equal(reply.headers.location, `products/${ids.ownProduct}`) });
  }
  await exchange({ operationId: 'lookUpPublicProduct', target: `${target}?gtin=5060412873018`, expect: 400,
    check: (reply) => { html(reply); assert.match(reply.text, /wrong check digit/); } });
  await exchange({ operationId: 'lookUpPublicProduct', target: `${target}?brand=Lumora`, expect: 400,
    check: (reply) => assert.match(reply.text, /needs the model too/) });
  await exchange({ operationId: 'lookUpPublicProduct', target, raw: `GET ${target}?gtin=%zz HTTP/1.1\r\nHost: x\r\n\r\n`,
    expect: 400, message: /malformed request target/ });
  await exchange({ operationId: 'lookUpPublicProduct', target: `${target}?brand=Nimbus&model=N-1`, expect: 404,
    check: (reply) => { html(reply); assert.equal(reply.headers['cache-control'], 'no-store'); } });
  await exchange({ operationId: 'lookUpPublicProduct', target: `${target}?gtin=4006381333931`, expect: 404 });

  const counts = '/api/v1/lookups/unregistered';
  const first = await exchange({ operationId: 'listUnregisteredLookups', target: `${counts}?limit=1`, token: stack.tokens.officer,
    expect: 200, check: (reply) => assert.equal(json(reply).items.length, 1) });
  await exchange({ operationId: 'listUnregisteredLookups', target: `${counts}?cursor=${json(first).next_cursor}&since=2000-01-01`,
    token: stack.tokens.admin, expect: 200, check: (reply) => assert.equal(json(reply).next_cursor, null) });
  const listed = await h.send(stack.direct, { target: counts, headers: h.bearer(stack.tokens.officer) });
  await exchange({ operationId: 'listUnregisteredLookups', target: counts, token: stack.tokens.officer,
    headers: { 'if-none-match': listed.headers.etag }, expect: 304 });
  await exchange({ operationId: 'listUnregisteredLookups', target: `${counts}?since=today`, token: stack.tokens.officer,
    expect: 400, message: /since must be a date/ });

  // A client over its rate: every public page answers it 429 until its bucket refills.
  const client = '127.0.0.9';
  for (let i = 0; i < 200; i += 1) {
    const reply = await h.send(stack.direct, { target, localAddress: client });
    if (reply.status === 429) break;
  }
  for (const [operationId, page] of [['lookUpPublicProduct', target],
    ['getPublicProductPage', `/public/products/${ids.ownProduct}`],
    ['getPublicProductLabel', `/public/products/${ids.ownProduct}/label.svg`]]) {
    await exchange({ operationId, via: 'direct', localAddress: client, target: page, expect: 429, message: /too many requests/,
      check: (reply) => assert.match(reply.headers['retry-after'], /^[1-9][0-9]*$/) });
  }
});

test('500 for a product whose stored findings are damaged', async () => {
  // Written behind the server's back, as a failing disk would: the reply cache does not know,
  // so each request asks something not asked before.
  const damage = { sqlite: "x'ff'", postgresql: "'\\xff'::bytea" }[stack.database.backend];
  await stack.database.execute(`UPDATE products SET findings = ${damage} WHERE id = ${ids.otherProduct};`);
  // The reply says only that it failed; the log says what failed, under the reply's request id.
  const internal = /^the server could not complete the request; it has been logged$/;
  for (const [operationId, target] of [
    ['getProduct', `/api/v1/products/${ids.otherProduct}`],
    ['listProducts', `/api/v1/products?q=${encodeURIComponent('Kestrel')}&limit=500`]]) {
    const reply = await exchange({ operationId, target, token: stack.tokens.admin, expect: 500, message: internal });
    const requestId = reply.headers['x-request-id'];
    assert.equal(JSON.parse(reply.text).error.request_id, requestId);
    assert.doesNotMatch(reply.text, /registry\.db|SELECT|sqlite|postgres/i);
    const logged = stack.server.log.join('').split('\n').filter((line) => line.includes(`request ${requestId}:`));
    assert.equal(logged.length, 1, stack.server.log.join(''));
    assert.match(logged[0], / answered 500: .*stored findings are damaged at byte 0/);
  }
});

test('the server still runs and logged no failure', () => {
  assert.deepEqual(h.serverHealth(stack), { running: true, failures: [] });
});

test('every documented status of every operation was produced, or cannot be', () => {
  const missing = [];
  const extra = [];
  for (const operation of stack.operations) {
    const documented = operation.responses.map((response) => Number(response.code));
    const got = produced.get(operation.iid);
    for (const status of documented) {
      const own = NOT_PRODUCIBLE[operation.iid] ?? {};
      const why = status in own ? own[status] : NOT_PRODUCIBLE['*'][status];
      if (!got.has(status) && !why) missing.push(`${operation.iid} ${status}`);
      if (got.has(status) && why) extra.push(`${operation.iid} ${status} (listed as not producible: ${why})`);
    }
  }
  assert.deepEqual(missing, [], 'documented statuses no exchange produced');
  assert.deepEqual(extra, [], 'statuses listed as not producible were produced');
});
