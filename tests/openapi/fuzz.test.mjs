// A bounded property-based fuzz of every operation of schemas/openapi.yaml: fast-check builds
// requests from each operation's parameters and request bodies as the document (parsed by Prism)
// describes them — valid and invalid values, arbitrary strings, missing and extra parameters,
// wrong types and content types, each role's token, a bad one and none — and sends them through
// Prism's validating proxy to `iotreg serve` over a throwaway registry of the samples. Whatever
// is sent, the server never answers 5xx, every reply is documented and matches its schema, every
// non-2xx reply is the JSON error envelope (the consumer pages' HTML 400 and 404 and the lookup's
// 302 excepted, as the document says), and a refused request changes nothing. Deterministic: one fixed seed per
// operation, a fixed number of runs.
//
// Run by ctest (tests/openapi/CMakeLists.txt) like conformance.test.mjs. IOTREG_FUZZ_RUNS and
// IOTREG_FUZZ_SEED override the number of runs per operation and the base seed.

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import * as h from './harness.mjs';

const require = createRequire(path.join(path.resolve(process.env.IOTREG_NODE_MODULES_DIR || process.cwd()), 'package.json'));
const fc = require('fast-check');

const RUNS = Number(process.env.IOTREG_FUZZ_RUNS || 30);
const SEED = Number(process.env.IOTREG_FUZZ_SEED || 20261129);

let stack;
let known;  // ids that exist, so that generated requests reach past the 404s

before(async () => {
  stack = await h.startStack({ serveArgs: ['--idle-timeout', '5', '--max-body', '1'], spareTokens: 5 });
  const get = async (target) => JSON.parse((await h.send(stack.direct, { target, headers: h.bearer(stack.tokens.admin) })).text);
  const products = await get('/api/v1/products?limit=500');
  const flags = await get('/api/v1/flags?limit=500');
  const tokens = await get('/api/v1/tokens');
  known = {
    products: products.items.map((product) => product.id),
    flags: flags.items.map((flag) => flag.id),
    // Tokens 1-3 are the ones the fuzz sends; only the spare ones may be revoked.
    tokens: tokens.items.slice(3).map((token) => token.id),
    cursors: {},
  };
  for (const list of ['products', 'flags', 'audit', 'tokens']) {
    known.cursors[list] = (await get(`/api/v1/${list}?limit=2`)).next_cursor;
    assert.equal(typeof known.cursors[list], 'string', `the ${list} are more than one page of two`);
  }
});

after(async () => {
  await stack?.close();
});

// ---------------------------------------------------------------------------------------------
// Values from JSON Schemas (as Prism hands them over: dereferenced, `nullable` as a type list)

const NASTY = ['', ' ', '0', '-1', '1e3', 'null', 'true', "' OR 1=1 --", '"; DROP TABLE products; --', '<script>alert(1)</script>',
  '../../etc/passwd', 'NEAR(a b)', 'a* OR b', '\u2019\u2011\u00d7', 'Ω≈ç√∫', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'e\u0301', '\u200b', 'x'.repeat(1001)];

const text = () => fc.oneof(
  { weight: 3, arbitrary: fc.string({ maxLength: 24 }) },
  { weight: 2, arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }) },
  { weight: 2, arbitrary: fc.constantFrom(...NASTY) },
);

const calendarDate = () => fc.date({ min: new Date('1990-01-01T00:00:00Z'), max: new Date('2099-12-31T00:00:00Z'), noInvalidDate: true })
  .map((date) => date.toISOString().slice(0, 10));

const typesOf = (schema) => (Array.isArray(schema.type) ? schema.type : schema.type ? [schema.type] : []);

// Values valid by `schema`.
function valid(schema) {
  if (schema.oneOf || schema.anyOf) return fc.oneof(...(schema.oneOf ?? schema.anyOf).map(valid));
  if (schema.allOf) return valid(Object.assign({}, ...schema.allOf));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  const types = typesOf(schema);
  if (types.length > 1) return fc.oneof(...types.map((type) => valid({ ...schema, type })));
  switch (types[0]) {
    case 'null':
      return fc.constant(null);
    case 'boolean':
      return fc.boolean();
    case 'integer':
      return fc.integer({ min: Math.max(schema.minimum ?? -1e6, -1e6), max: Math.min(schema.maximum ?? 1e6, 1e6) });
    case 'number':
      return fc.double({ noNaN: true, noDefaultInfinity: true });
    case 'array':
      return fc.array(valid(schema.items ?? {}), { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 3, 3) });
    case 'object': {
      const properties = schema.properties ?? {};
      const shapes = Object.fromEntries(Object.entries(properties).map(([name, inner]) => [name, valid(inner)]));
      return fc.record(shapes, { requiredKeys: schema.required ?? [] });
    }
    case 'string': {
      if (schema.format === 'date') return calendarDate();
      const min = schema.minLength ?? 0;
      const max = schema.maxLength ?? 10_000;
      const source = schema.pattern ? fc.stringMatching(new RegExp(schema.pattern)) : text();
      return source.filter((value) => value.length >= min && value.length <= max);
    }
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

// Values of the wrong JSON type for `schema`.
function wrongType(schema) {
  const types = typesOf(schema);
  const candidates = [
    ['string', fc.string({ maxLength: 8 })], ['integer', fc.integer()], ['number', fc.double({ noNaN: true, noDefaultInfinity: true })],
    ['boolean', fc.boolean()], ['null', fc.constant(null)], ['array', fc.array(fc.integer(), { maxLength: 2 })],
    ['object', fc.dictionary(fc.string({ maxLength: 5 }), fc.integer(), { maxKeys: 2 })],
  ].filter(([type]) => types.length > 0 && !types.includes(type) && !(type === 'integer' && types.includes('number')));
  return candidates.length ? fc.oneof(...candidates.map(([, arbitrary]) => arbitrary)) : fc.jsonValue({ maxDepth: 2 });
}

// Values that break `schema` somewhere: a wrong type, a value out of its range or enum, and for
// objects a missing required member, an unknown member or a member with a broken value.
function invalid(schema) {
  const options = [wrongType(schema), fc.jsonValue({ maxDepth: 3 })];
  if (schema.enum) options.push(text().filter((value) => !schema.enum.includes(value)));
  if (typesOf(schema).includes('integer')) options.push(fc.constantFrom(0, -1, 501, 2 ** 53, 1.5));
  if (typesOf(schema).includes('object') && schema.properties) {
    const names = Object.keys(schema.properties);
    options.push(fc.tuple(valid(schema), fc.string({ minLength: 1, maxLength: 10 })).map(([value, name]) => ({ ...value, [`${name}_extra`]: 1 })));
    if (schema.required?.length) {
      options.push(fc.tuple(valid(schema), fc.constantFrom(...schema.required)).map(([value, name]) => {
        const copy = { ...value };
        delete copy[name];
        return copy;
      }));
    }
    options.push(fc.constantFrom(...names).chain((name) =>
      fc.tuple(valid(schema), invalid(schema.properties[name])).map(([value, broken]) => ({ ...value, [name]: broken }))));
  }
  return fc.oneof(...options);
}

// A query or path value: text on the wire, already percent-encoded.
const wire = (value) => (typeof value === 'string' ? value : typeof value === 'number' ? String(value) : JSON.stringify(value) ?? '');
const encoded = (arbitrary) => arbitrary.map((value) => encodeURIComponent(wire(value)));
const rawEncodings = fc.constantFrom('%FF', '%00', '%25', '%C3%28', '%E2%80%AE', '+', '%20', '%2F..%2F');

function queryValue(schema) {
  return fc.oneof(
    { weight: 4, arbitrary: encoded(valid(schema)) },
    { weight: 2, arbitrary: encoded(invalid(schema)) },
    { weight: 2, arbitrary: encoded(text()) },
    { weight: 1, arbitrary: rawEncodings },
    { weight: 1, arbitrary: fc.constantFrom(...Object.values(known.cursors)) },
  );
}

// ---------------------------------------------------------------------------------------------
// Bodies

function flatten(value, prefix = '', out = {}) {
  for (const [name, inner] of Object.entries(value ?? {})) {
    const key = prefix ? `${prefix}.${name}` : name;
    if (inner && typeof inner === 'object' && !Array.isArray(inner)) flatten(inner, key, out);
    else out[key] = Array.isArray(inner) ? inner.map((item) => String(item).replace(/[\\|]/g, '\\$&')).join('|') : inner;
  }
  return out;
}

const csvCell = (value) => {
  const cell = value === undefined || value === null ? '' : String(value);
  return /[",\r\n]/.test(cell) ? `"${cell.replace(/"/g, '""')}"` : cell;
};

function toCsv(declarations) {
  const rows = declarations.map((declaration) => flatten(declaration));
  const columns = [...new Set(rows.flatMap((row) => Object.keys(row)))];
  return [columns.join(','), ...rows.map((row) => columns.map((column) => csvCell(row[column])).join(','))].join('\r\n') + '\r\n';
}

// A GTIN's check digit is beyond what a JSON Schema says; a generated one is fixed to be right.
function withCheckDigit(gtin) {
  const digits = [...gtin.slice(0, -1)].map(Number);
  const sum = digits.reverse().reduce((total, digit, i) => total + digit * (i % 2 === 0 ? 3 : 1), 0);
  return gtin.slice(0, -1) + String((10 - (sum % 10)) % 10);
}

// Declarations: valid by the document (with a right GTIN, and of the manufacturer a
// manufacturer token is bound to when `own`), or, unless `wellFormed`, sometimes broken.
function declarations(schema, { wellFormed, own }) {
  const good = fc.tuple(valid(schema), fc.boolean()).map(([declaration, lumora]) => {
    const product = declaration.product.gtin ? { ...declaration.product, gtin: withCheckDigit(declaration.product.gtin) } : declaration.product;
    const manufacturer = own || lumora ? { ...declaration.manufacturer, name: h.LUMORA } : declaration.manufacturer;
    return { ...declaration, manufacturer, product };
  });
  const one = wellFormed ? good : fc.oneof({ weight: 3, arbitrary: good }, { weight: 1, arbitrary: invalid(schema) });
  return fc.array(one, { minLength: 1, maxLength: 3 });
}

const renderers = {
  csv: toCsv,
  yaml: (items) => items.map((item) => `---\n${JSON.stringify(item)}\n`).join(''),
  jsonl: (items) => `${items.map((item) => JSON.stringify(item)).join('\n')}\n`,
  json: (items) => JSON.stringify(items.length === 1 ? items[0] : items),
};
const rendererFor = (mediaType) => (/csv/.test(mediaType) ? renderers.csv : /yaml/.test(mediaType) ? renderers.yaml
  : mediaType === 'application/json' ? renderers.json : renderers.jsonl);

// A body for an operation: [content type or undefined, body text]. Well-formed: of a documented
// media type and valid by its schema; otherwise also invalid values, malformed JSON, media types
// the operation does not take, or none.
function body(operation, { wellFormed, own }) {
  const contents = operation.request?.body?.contents ?? [];
  const strangers = fc.tuple(fc.constantFrom('text/plain', 'application/xml', 'multipart/form-data; boundary=x',
    'application/x-www-form-urlencoded', 'APPLICATION/JSON; charset=latin1'), fc.string({ maxLength: 40 }));
  const none = fc.constant([undefined, '']);
  if (contents.length === 0) return wellFormed ? none : fc.oneof({ weight: 4, arbitrary: none }, { weight: 1, arbitrary: strangers });
  const declaration = contents.find((content) => content.mediaType === 'application/json')?.schema?.oneOf?.[0];
  const documented = contents.map((content) => {
    const mediaType = content.mediaType;
    if (declaration) {
      const rendered = declarations(declaration, { wellFormed, own }).map(rendererFor(mediaType));
      return fc.tuple(fc.constant(mediaType), wellFormed ? rendered
        : fc.oneof({ weight: 4, arbitrary: rendered }, { weight: 1, arbitrary: fc.string({ maxLength: 60 }) }));
    }
    // A bulk action on random ids almost never names a flag: well-formed ones name known flags.
    const validBody = (operation.iid === 'actOnFlags'
      ? fc.record({ action: fc.constantFrom('confirm', 'dismiss', 'lift'),
        ids: fc.uniqueArray(fc.constantFrom(...known.flags), { minLength: 1, maxLength: 3 }),
        reason: fc.constant('fuzz: a bulk action') })
      : valid(content.schema)).map((value) => JSON.stringify(value));
    return fc.tuple(fc.constant(mediaType), wellFormed ? validBody : fc.oneof(
      { weight: 2, arbitrary: validBody },
      { weight: 2, arbitrary: invalid(content.schema).map((value) => JSON.stringify(value)) },
      { weight: 1, arbitrary: fc.constantFrom('', ' ', '{', '{"reason": "x"', 'null', '[]', '"reason"') },
    ));
  });
  if (wellFormed) return fc.oneof(...documented);
  return fc.oneof({ weight: 6, arbitrary: fc.oneof(...documented) }, { weight: 1, arbitrary: strangers },
    { weight: 1, arbitrary: none });
}

// ---------------------------------------------------------------------------------------------
// Requests

const protectedTokens = ['1', '2', '3'];  // the fuzz's own tokens: never revoked

function pathValue(operation, name, wellFormed) {
  if (name === 'file') return wellFormed ? fc.constantFrom('app.js', 'app.css') : fc.oneof(fc.constantFrom('app.js', 'app.css'), encoded(text()));
  const pool = operation.path.startsWith('/api/v1/flags') ? known.flags
    : operation.path.startsWith('/api/v1/tokens') ? known.tokens : known.products;
  const schema = operation.request.path.find((parameter) => parameter.name === name).schema;
  const existing = fc.constantFrom(...pool).map(String);
  const id = wellFormed ? existing : fc.oneof(
    { weight: 4, arbitrary: existing },
    { weight: 2, arbitrary: encoded(valid(schema)) },
    { weight: 1, arbitrary: encoded(invalid(schema)) },
    { weight: 1, arbitrary: encoded(text()) },
  );
  return id.map((value) => (operation.path.startsWith('/api/v1/tokens') && protectedTokens.includes(value) ? '999999' : value));
}

// The cursors of the lists, so that a well-formed request can ask for a next page.
function cursorsFor(operation) {
  const list = operation.path.split('/').pop();
  return known.cursors[list] ? [known.cursors[list]] : [];
}

function wellFormedQueryValue(operation, parameter) {
  if (parameter.name === 'cursor') {
    const cursors = cursorsFor(operation);
    return cursors.length ? fc.constantFrom(...cursors) : encoded(valid(parameter.schema));
  }
  // A lookup's well-formed values name a registered product (the samples' Lumora LV-C210) or one
  // that is not registered.
  const lookups = { gtin: ['5060412873017', '05060412873017', '4006381333931'], brand: ['Lumora', 'LUMORA'], model: ['LV-C210', 'lv-c210'] };
  if (operation.iid === 'lookUpPublicProduct' && lookups[parameter.name]) return fc.constantFrom(...lookups[parameter.name]);
  return encoded(valid(parameter.schema));
}

function build(operation, wellFormed) {
  const roles = operation.extensions['x-roles'];
  const names = [...operation.path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
  const pathParts = fc.tuple(...names.map((name) => pathValue(operation, name, wellFormed)));
  const documented = (operation.request?.query ?? []).map((parameter) =>
    fc.option(fc.tuple(fc.constant(parameter.name),
      wellFormed ? wellFormedQueryValue(operation, parameter) : queryValue(parameter.schema)), { nil: undefined, freq: 2 }));
  const extras = wellFormed ? fc.constant([]) : fc.array(fc.tuple(fc.oneof(fc.constantFrom('limit', 'cursor', 'q', 'page', 'x',
    'dry_run', 'format', 'state'), encoded(fc.string({ minLength: 1, maxLength: 6 }))), encoded(text())), { maxLength: 2 });
  const admitted = roles.includes('public') ? ['none', 'officer'] : roles;
  const token = wellFormed ? fc.constantFrom(...admitted) : fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...admitted) },
    { weight: 2, arbitrary: fc.constantFrom('officer', 'manufacturer', 'admin') },
    { weight: 1, arbitrary: fc.constantFrom('none', 'unknown', 'basic') },
  );
  const method = wellFormed ? fc.constant(operation.method.toUpperCase()) : fc.oneof(
    { weight: 19, arbitrary: fc.constant(operation.method.toUpperCase()) },
    { weight: 1, arbitrary: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH') },
  );
  // Built once: a manufacturer token sends its own manufacturer's declarations.
  const bodies = { own: body(operation, { wellFormed, own: true }), any: body(operation, { wellFormed, own: false }) };
  return fc.record({ method, pathParts, query: fc.tuple(...documented), extras, token })
    .chain((request) => bodies[request.token === 'manufacturer' ? 'own' : 'any'].map((payload) => ({ ...request, payload })))
    .map(({ method: verb, pathParts: parts, query, extras: more, token: holder, payload: [contentType, payload] }) => {
      let target = operation.path;
      names.forEach((name, i) => { target = target.replace(`{${name}}`, parts[i]); });
      const pairs = [...query.filter(Boolean), ...more];
      if (pairs.length) target += `?${pairs.map(([name, value]) => `${name}=${value}`).join('&')}`;
      const headers = {};
      if (holder === 'unknown') headers.authorization = `Bearer iotreg_${'f'.repeat(64)}`;
      else if (holder === 'basic') headers.authorization = 'Basic YWRtaW46YWRtaW4=';
      else if (holder !== 'none') Object.assign(headers, h.bearer(stack.tokens[holder]));
      if (contentType) headers['content-type'] = contentType;
      return { method: verb, target, headers, body: verb === 'GET' ? undefined : payload };
    });
}

// Half the requests are well-formed (documented values only, an admitted role's token), so that
// the operations' successes are fuzzed too; the other half may break anything.
const requestFor = (operation) => fc.oneof(build(operation, true), build(operation, false));

// Whether Prism forwards the request unchanged in meaning: it forwards no body with a GET and
// parses a JSON body first (so one that is not JSON never reaches the server through it).
function viaProxy(request) {
  const contentType = request.headers['content-type'] ?? '';
  if (!/^application\/(.+\+)?json\b/i.test(contentType) || !request.body) return true;
  try {
    JSON.parse(request.body);
    return true;
  } catch {
    return false;
  }
}

const counts = new Map();

function fuzz(operationId, index) {
  test(operationId, { timeout: 60_000 }, async () => {
    const operation = h.operationById(stack, operationId);
    const statuses = new Map();
    await fc.assert(fc.asyncProperty(requestFor(operation), async (request) => {
      // Prism's proxy follows redirects: the lookup's 302 would reach the checks as the page it
      // leads to, so the lookup goes to the server directly and its reply is validated here.
      const via = viaProxy(request) && operationId !== 'lookUpPublicProduct' ? 'proxy' : 'direct';
      const writes = request.method !== 'GET';
      const before = writes ? await h.registryState(stack) : null;
      const reply = await h.send(via === 'proxy' ? stack.proxy : stack.direct, request);
      const record = { via, request, reply, operationIds: [operation.iid] };
      const described = () => h.describeExchange(record);
      statuses.set(reply.status, (statuses.get(reply.status) ?? 0) + 1);
      const violations = [...h.serverViolations(stack, record), ...h.missingCommonHeaders(reply)];
      assert.deepEqual(violations, [], `the reply violates the document:\n${violations.join('\n')}\n${described()}`);
      assert.ok(reply.status < 500, `a 5xx reply\n${described()}`);
      if (via === 'proxy' && reply.status < 300) {
        const forbidden = h.forbiddenRequest(reply);
        assert.deepEqual(forbidden, [], `the server accepted a request the document forbids:\n${forbidden.join('\n')}\n${described()}`);
      }
      if (reply.status >= 300) {
        const contentType = String(reply.headers['content-type'] ?? '');
        if (contentType.startsWith('text/html')) {
          assert.ok(['getPublicProductPage', 'lookUpPublicProduct'].includes(operation.iid) && [302, 400, 404].includes(reply.status)
            && (reply.status !== 302 || operation.iid === 'lookUpPublicProduct'), `an HTML error page\n${described()}`);
        } else {
          assert.match(contentType, /^application\/json/, described());
          const envelope = JSON.parse(reply.text);
          assert.equal(envelope.error?.status, reply.status, described());
          assert.equal(envelope.error?.code, h.ERROR_CODES[reply.status], described());
        }
        if (writes) assert.equal(await h.registryState(stack), before, `a refused request changed the registry\n${described()}`);
      }
    }), { seed: SEED + index, numRuns: RUNS, endOnFailure: true });
    counts.set(operation.iid, statuses);
  });
}

// The operations by name; the first test proves they are exactly the document's.
const operationIds = ['getHealth', 'getMetrics', 'getMe', 'createSession', 'deleteSession', 'listProducts', 'getProduct', 'importDeclarations', 'listFlags',
  'confirmFlag', 'dismissFlag', 'liftFlag', 'actOnFlags', 'listChanges', 'listChecks', 'runChecks', 'exportProducts',
  'listAuditEvents', 'getStats', 'listTokens',
  'createToken', 'revokeToken', 'getPublicProductPage', 'getPublicProductLabel', 'lookUpPublicProduct',
  'listUnregisteredLookups', 'getAccessibilityStatement', 'getWebUi', 'getWebUiAsset'];

test('the fuzz covers exactly the operations of the document', () => {
  assert.deepEqual(stack.operations.map((operation) => operation.iid).sort(), [...operationIds].sort());
});

operationIds.forEach(fuzz);

test('the server still runs and logged no failure', () => {
  assert.deepEqual(h.serverHealth(stack), { running: true, failures: [] });
});

test('the fuzz reached success and refusal on every operation', () => {
  const summary = [...counts].map(([id, statuses]) => `${id}: ${[...statuses].sort(([a], [b]) => a - b).map(([status, n]) => `${status}x${n}`).join(' ')}`);
  console.log(summary.join('\n'));
  for (const [id, statuses] of counts) {
    // A lookup's redirect to the page it found is its success.
    const success = [...statuses.keys()].some((status) => status < 300 || (status === 302 && id === 'lookUpPublicProduct'));
    assert.ok(success, `${id}: no request succeeded (${[...statuses.keys()]})`);
  }
});
