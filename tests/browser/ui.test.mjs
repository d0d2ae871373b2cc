// The officer web UI end to end: a sample registry built with the real iotreg binary, served by
// `iotreg serve` on loopback, driven in Debian's headless Chromium through playwright-core.
//
// Run by ctest (tests/browser/CMakeLists.txt) as
//   IOTREG_BINARY=.../iotreg IOTREG_SOURCE_DIR=... node --test-reporter=spec ui.test.mjs
// from a directory whose node_modules holds playwright-core and axe-core (`npm ci` there), or with
// IOTREG_NODE_MODULES_DIR naming that directory. IOTREG_CHROMIUM overrides /usr/bin/chromium.
//
// It is also the accessibility gate (WCAG 2.2 AA): axe-core checks every page and dialog of the
// console and the public pages under their real Content-Security-Policy, every page is checked
// for reflow at 320 CSS pixels, and the main paths are walked with the keyboard alone, with a
// visible focus indicator of 3:1 contrast at every stop.
// The registry is an SQLite file, or with IOTREG_TEST_POSTGRESQL (and IOTREG_PSQL) set, a
// PostgreSQL database of its own (../openapi/database.mjs).
// Every step checks what the page shows against what the API answers for the same question.
// On a failure a screenshot and the server's log are kept in ./browser-test-failures/ (or where
// IOTREG_BROWSER_FAILURES says).

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRegistryDatabase } from '../openapi/database.mjs';

const AS_OF = '2026-11-29';
const binary = process.env.IOTREG_BINARY;
const sourceDir = process.env.IOTREG_SOURCE_DIR;
const chromiumPath = process.env.IOTREG_CHROMIUM || '/usr/bin/chromium';
const modulesDir = process.env.IOTREG_NODE_MODULES_DIR || process.cwd();
const failureDir = path.resolve(process.env.IOTREG_BROWSER_FAILURES || 'browser-test-failures');

const require = createRequire(path.join(path.resolve(modulesDir), 'package.json'));
const { chromium } = require('playwright-core');
// axe-core's own bundle, evaluated in the page as a script of the test runner: the page's CSP
// (no inline or foreign script) stays as the server sends it.
const axeSource = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];
// The width WCAG 1.4.10 asks pages to reflow to (1280 px at 400% zoom), and the usual one.
const NARROW = { width: 320, height: 640 };
// Public pages the tests load knowing they answer 4xx (a page that says so), which Chromium logs
// as a failed resource.
const REFUSED_PAGES = {
  unknownProduct: '/public/products/999999',
  lookupNotRegistered: '/public/lookup?gtin=4006381333931',
  lookupMistyped: '/public/lookup?gtin=12345',
};
const WIDE = { width: 1366, height: 768 };

// How the audit log names the officer the browser signs in as (the token's holder).
const officerName = () => `Olivia Officer (officer, token ${state.me.token_id})`;

const state = {
  tmp: null, database: null, token: null, me: null, server: null, serverLog: [], base: null,
  context: null, page: null, pageErrors: [], failed: false,
};

// ---------------------------------------------------------------------------------------------
// Helpers

function run(args, { allow = [0] } = {}) {
  const result = spawnSync(binary, args, { encoding: 'utf8', timeout: 120_000 });
  if (result.error) throw result.error;
  if (!allow.includes(result.status)) {
    throw new Error(`iotreg ${args.join(' ')} exited ${result.status}\n${result.stdout}\n${result.stderr}`);
  }
  return result;
}

function freePort() {
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

async function waitForHealth(base, child) {
  const deadline = Date.now() + 30_000;
  let lastError = null;
  while (Date.now() < deadline) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`iotreg serve exited (${child.exitCode ?? child.signalCode}) before answering /healthz\n${state.serverLog.join('')}`);
    }
    try {
      const response = await fetch(`${base}/healthz`);
      if (response.ok) {
        const body = await response.json();
        assert.equal(body.status, 'ok');
        return;
      }
      lastError = new Error(`/healthz answered ${response.status}`);
    } catch (error) {
      lastError = error;
    }
    await sleep(100);
  }
  throw new Error(`iotreg serve did not answer /healthz within 30 s: ${lastError?.message}\n${state.serverLog.join('')}`);
}

// GET from the API with the officer token; the answer the page is checked against.
async function api(pathAndQuery) {
  const response = await fetch(`${state.base}${pathAndQuery}`, {
    headers: { Authorization: `Bearer ${state.token}` },
  });
  const text = await response.text();
  assert.equal(response.status, 200, `GET ${pathAndQuery} answered ${response.status}: ${text}`);
  return JSON.parse(text);
}

// What `promise` resolves to, or a failure naming `what` once `ms` have passed: page.evaluate
// itself has no deadline.
async function withDeadline(promise, ms, what) {
  let timer;
  const late = new Promise((resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

// Retries an assertion until it holds or the time is up, then throws its last error.
async function eventually(check, timeout = 10_000) {
  const deadline = Date.now() + timeout;
  for (;;) {
    try {
      return await check();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await sleep(100);
    }
  }
}

// The declaration flattened to dotted paths, written independently of the UI's own code.
function flattenDeclaration(value, prefix = '', out = {}) {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    for (const [key, inner] of Object.entries(value)) flattenDeclaration(inner, prefix ? `${prefix}.${key}` : key, out);
  } else {
    out[prefix] = JSON.stringify(value);
  }
  return out;
}

function expectedDiff(before, after) {
  const a = flattenDeclaration(before);
  const b = flattenDeclaration(after);
  const changes = {};
  for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (!(key in a)) changes[key] = 'added';
    else if (!(key in b)) changes[key] = 'removed';
    else if (a[key] !== b[key]) changes[key] = 'changed';
  }
  return changes;
}

function sortedEntries(object) {
  return Object.entries(object ?? {}).map(([key, value]) => [key, Number(value)]).sort(([x], [y]) => x.localeCompare(y));
}

// A test that keeps a screenshot of the page when it fails.
function uiTest(name, body) {
  test(name, { timeout: 120_000 }, async () => {
    try {
      await body(state.page);
    } catch (error) {
      state.failed = true;
      if (state.page && state.tmp) {
        const file = path.join(state.tmp, `failure-${name.replace(/[^a-z0-9]+/gi, '-').slice(0, 60)}.png`);
        await state.page.screenshot({ path: file, fullPage: true }).catch(() => {});
        console.error(`screenshot: ${file} (copied to ${failureDir} at the end)`);
      }
      throw error;
    }
  });
}

async function heading(page, name) {
  await page.getByRole('heading', { level: 1, name, exact: true }).waitFor();
}

// The ids of the product rows in the result table, in order.
async function resultIds(page) {
  return page.locator('table.results tbody tr[data-product-id]').evaluateAll(
    (rows) => rows.map((row) => Number(row.dataset.productId)));
}

async function facetCounts(page, group) {
  const entries = await page.locator(`button.facet[data-facet="${group}"]`).evaluateAll(
    (buttons) => buttons.map((button) => [button.dataset.value, Number(button.querySelector('.count').textContent)]));
  return entries.sort(([x], [y]) => x.localeCompare(y));
}

// Waits until the search page shows the answer to `apiQuery`, then compares rows and facets.
async function expectSearchMatches(page, apiQuery) {
  const expected = await api(`/api/v1/products?${apiQuery}`);
  await eventually(async () => {
    assert.deepEqual(await resultIds(page), expected.items.map((item) => item.id));
    assert.deepEqual(await facetCounts(page, 'status'), sortedEntries(expected.facets.status));
    assert.deepEqual(await facetCounts(page, 'type'), sortedEntries(expected.facets.type));
  });
  return expected;
}

// The flag queues of the flag page and the query of GET /api/v1/flags that each one lists.
const FLAG_QUEUES = {
  raised: { state: 'raised' },
  confirmed: { state: 'confirmed' },
  remedied: { state: 'confirmed', remedied: 'true' },
  withdrawn: { state: 'withdrawn' },
  dismissed: { state: 'dismissed' },
  lifted: { state: 'lifted' },
};

// How many flags the API lists for each queue, read page by page; `all` is the sum of the states.
async function apiQueueCounts() {
  const counts = {};
  for (const [queue, filter] of Object.entries(FLAG_QUEUES)) {
    counts[queue] = 0;
    let cursor = null;
    do {
      const params = new URLSearchParams({ ...filter, limit: '500', ...(cursor ? { cursor } : {}) });
      const reply = await api(`/api/v1/flags?${params}`);
      counts[queue] += reply.items.length;
      cursor = reply.next_cursor;
    } while (cursor);
  }
  counts.all = ['raised', 'withdrawn', 'confirmed', 'dismissed', 'lifted'].reduce((sum, queue) => sum + counts[queue], 0);
  return counts;
}

async function shownQueueCounts(page) {
  return Object.fromEntries(await page.locator('nav.queue-tabs a[data-queue]').evaluateAll(
    (links) => links.map((link) => [link.dataset.queue, Number(link.querySelector('.count').textContent)])));
}

async function shownFlagIds(page) {
  return page.locator('table.flags tbody tr[data-flag-id]').evaluateAll((rows) => rows.map((row) => Number(row.dataset.flagId)));
}

// Waits until the flag page shows `queue` as the API lists it (first page) with every queue's
// count as the API's; answers the ids shown and the counts.
async function expectFlagQueue(page, queue) {
  const listed = await api(`/api/v1/flags?${new URLSearchParams({ ...FLAG_QUEUES[queue], limit: '50' })}`);
  const counts = await apiQueueCounts();
  const ids = listed.items.map((flag) => flag.id);
  await eventually(async () => {
    assert.equal(await page.locator('nav.queue-tabs a[aria-current="page"]').getAttribute('data-queue'), queue);
    assert.deepEqual(await shownFlagIds(page), ids);
    assert.deepEqual(await shownQueueCounts(page), counts);
  });
  return { ids, counts, items: listed.items };
}

// The flag with this id as the API answers it.
async function apiFlag(id) {
  for (const filter of Object.values(FLAG_QUEUES)) {
    const found = (await api(`/api/v1/flags?${new URLSearchParams({ ...filter, limit: '500' })}`)).items.find((flag) => flag.id === id);
    if (found) return found;
  }
  throw new Error(`the API lists no flag ${id}`);
}

// The session cookie of the browser, or undefined.
async function sessionCookie() {
  return (await state.context.cookies(state.base)).find((cookie) => cookie.name === 'iotreg_session');
}

// ---------------------------------------------------------------------------------------------
// Accessibility: axe-core, reflow, focus

// Two animation frames: layout, resize observers and their changes have run.
async function settled(page) {
  await withDeadline(page.evaluate(() => new Promise((resolve) => {
    requestAnimationFrame(() => requestAnimationFrame(() => resolve()));
  })), 5_000, 'waiting for the page to settle');
}

// Fails with a readable list of what axe-core finds against WCAG 2.0, 2.1 and 2.2 A and AA on the
// page as it is now (open dialogs and menus included).
async function expectNoAxeViolations(page, what) {
  await settled(page);
  const loaded = await page.evaluate(() => typeof window.axe === 'object');
  if (!loaded) await withDeadline(page.evaluate(axeSource), 10_000, `loading axe-core into ${what}`);
  const violations = await withDeadline(page.evaluate(async (tags) => {
    const results = await window.axe.run(document, { runOnly: { type: 'tag', values: tags }, resultTypes: ['violations'] });
    return results.violations.map((violation) => ({
      id: violation.id, impact: violation.impact, help: violation.help, helpUrl: violation.helpUrl,
      nodes: violation.nodes.map((node) => ({ target: node.target.join(' '), summary: node.failureSummary })),
    }));
  }, AXE_TAGS), 30_000, `axe-core on ${what}`);
  const report = violations.map((violation) => [
    `${violation.id} (${violation.impact}): ${violation.help} <${violation.helpUrl}>`,
    ...violation.nodes.map((node) => `    ${node.target}: ${String(node.summary).replaceAll('\n', ' ')}`),
  ].join('\n'));
  assert.equal(violations.length, 0, `${what}: axe-core found WCAG A/AA violations:\n${report.join('\n')}`);
}

// Fails unless nothing scrolls sideways: the page, and each open dialog inside itself and inside
// the window (WCAG 1.4.10).
async function expectReflow(page, what) {
  await settled(page);
  const found = await page.evaluate(() => {
    const problems = [];
    const root = document.documentElement;
    if (root.scrollWidth > root.clientWidth) {
      problems.push(`the page is ${root.scrollWidth} px wide in a ${root.clientWidth} px window`);
    }
    for (const dialog of document.querySelectorAll('dialog[open]')) {
      const box = dialog.getBoundingClientRect();
      if (dialog.scrollWidth > dialog.clientWidth) {
        problems.push(`the dialog's content is ${dialog.scrollWidth} px wide in a ${dialog.clientWidth} px dialog`);
      }
      if (box.left < 0 || box.right > root.clientWidth) {
        problems.push(`the dialog spans ${Math.round(box.left)}–${Math.round(box.right)} px of a ${root.clientWidth} px window`);
      }
    }
    return problems;
  });
  assert.deepEqual(found, [], `${what} does not reflow at ${NARROW.width} px`);
}

// The page as it is, then at 320 px: axe-core at both widths and reflow at the narrow one.
async function expectAccessible(page, what) {
  await expectNoAxeViolations(page, what);
  const size = page.viewportSize();
  await page.setViewportSize(NARROW);
  try {
    await expectReflow(page, `${what} (${NARROW.width} px)`);
    await expectNoAxeViolations(page, `${what} (${NARROW.width} px)`);
  } finally {
    await page.setViewportSize(size ?? WIDE);
  }
}

// WCAG's contrast ratio of two sRGB colours given as [r, g, b] (0-255).
function contrastRatio(one, other) {
  const luminance = ([r, g, b]) => {
    const linear = (channel) => {
      const c = channel / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    };
    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b);
  };
  const [light, dark] = [luminance(one), luminance(other)].sort((a, b) => b - a);
  return (light + 0.05) / (dark + 0.05);
}

function parseHexColour(hex) {
  const digits = hex.trim().replace(/^#/, '');
  return [0, 2, 4].map((at) => parseInt(digits.slice(at, at + 2), 16));
}

// What shows where the focus is: the focused element, its focus indicator (outline and box-shadow
// colours that are drawn) and the colours just outside that indicator, read from the page as
// painted (what lies under four points around it, whatever the DOM nesting).
async function focusIndicator(page) {
  return page.evaluate(() => {
    const parse = (text) => {
      const match = /rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)/.exec(text ?? '');
      return match ? { rgb: [Number(match[1]), Number(match[2]), Number(match[3])], alpha: match[4] === undefined ? 1 : Number(match[4]) } : null;
    };
    const element = document.activeElement;
    const name = (node) => {
      if (!node || node === document.body) return 'the document body';
      const label = (node.getAttribute('aria-label') || node.textContent || node.value || '').trim().replace(/\s+/g, ' ').slice(0, 60);
      return `<${node.tagName.toLowerCase()}${node.id ? `#${node.id}` : ''}> “${label}”`;
    };
    if (!element || element === document.body || element === document.documentElement) {
      return { element: 'the document body', onBody: true, indicators: [], around: [] };
    }
    const style = getComputedStyle(element);
    const indicators = [];
    const outlineWidth = parseFloat(style.outlineWidth) || 0;
    if (style.outlineStyle !== 'none' && outlineWidth > 0) {
      const colour = parse(style.outlineColor);
      if (colour && colour.alpha > 0) indicators.push({ kind: 'outline', rgb: colour.rgb });
    }
    if (style.boxShadow && style.boxShadow !== 'none') {
      for (const part of style.boxShadow.split(/,(?![^(]*\))/)) {
        const colour = parse(part);
        if (colour && colour.alpha > 0) indicators.push({ kind: 'box-shadow', rgb: colour.rgb });
      }
    }
    const painted = (node) => {
      for (; node; node = node.parentElement) {
        const colour = parse(getComputedStyle(node).backgroundColor);
        if (colour && colour.alpha > 0.5) return colour.rgb;
      }
      return [255, 255, 255];
    };
    // The colour under a point: the first painted background of what lies there, the focused
    // element and the parts of it excepted.
    const background = (x, y) => {
      for (const under of document.elementsFromPoint(x, y)) {
        if (!element.contains(under)) return painted(under);
      }
      return null;
    };
    const box = element.getBoundingClientRect();
    // A ring drawn inside the element (a negative offset) lies on the element's own background;
    // any other lies on what is around the element.
    const outer = (parseFloat(style.outlineOffset) || 0) + outlineWidth;
    let around = [painted(element)];
    if (outer > 0 || style.outlineStyle === 'none') {
      const reach = Math.max(outer, 0) + 2;
      const [x, y] = [box.left + box.width / 2, box.top + box.height / 2];
      const points = [[box.left - reach, y], [box.right + reach, y], [x, box.top - reach], [x, box.bottom + reach]]
        .filter(([px, py]) => px >= 0 && py >= 0 && px < innerWidth && py < innerHeight);
      around = points.map(([px, py]) => background(px, py)).filter(Boolean);
    }
    const dialog = document.querySelector('dialog[open]');
    return {
      element: name(element), onBody: false, indicators, around, visible: box.width > 0 && box.height > 0,
      outline: `${style.outlineStyle} ${style.outlineWidth} ${style.outlineColor}`, boxShadow: style.boxShadow,
      inDialog: dialog ? dialog.contains(element) : null,
    };
  });
}

// Fails unless the focus is on a visible element that shows a focus indicator contrasting at
// least 3:1 (WCAG 1.4.11, 2.4.7) with every colour around it. Answers what was focused.
async function expectVisibleFocus(page, what) {
  const focus = await focusIndicator(page);
  assert.ok(!focus.onBody, `${what}: the focus is on the document body`);
  assert.ok(focus.visible, `${what}: the focused ${focus.element} is not visible`);
  assert.ok(focus.indicators.length > 0,
    `${what}: the focused ${focus.element} shows no focus indicator (outline ${focus.outline}; box-shadow ${focus.boxShadow})`);
  assert.ok(focus.around.length > 0, `${what}: nothing around the focused ${focus.element} could be read`);
  const best = Math.max(...focus.indicators.map((indicator) => Math.min(...focus.around.map((rgb) => contrastRatio(indicator.rgb, rgb)))));
  assert.ok(best >= 3, `${what}: the focus indicator of ${focus.element} (${JSON.stringify(focus.indicators)}) contrasts only `
    + `${best.toFixed(2)}:1 with the colours around it (${JSON.stringify(focus.around)}); WCAG 1.4.11 asks 3:1`);
  return focus;
}

async function alertText(page) {
  const alert = page.getByRole('alert');
  await alert.waitFor({ state: 'visible' });
  return alert.textContent();
}

// ---------------------------------------------------------------------------------------------
// Set-up and tear-down

async function cleanUp() {
  if (state.context) await state.context.close().catch(() => {});
  state.context = null;
  const child = state.server;
  if (child && child.exitCode === null && child.signalCode === null) {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    const stopped = await Promise.race([exited.then(() => true), sleep(10_000).then(() => false)]);
    if (!stopped) {
      console.error('iotreg serve did not stop within 10 s of SIGTERM; killing it');
      child.kill('SIGKILL');
      await exited;
    }
  }
  state.server = null;
  try {
    await state.database?.drop();
  } finally {
    state.database = null;
    if (state.tmp) {
      if (state.failed) {
        fs.mkdirSync(failureDir, { recursive: true });
        for (const name of fs.readdirSync(state.tmp)) {
          if (name.endsWith('.png')) fs.copyFileSync(path.join(state.tmp, name), path.join(failureDir, name));
        }
        fs.writeFileSync(path.join(failureDir, 'server.log'), state.serverLog.join(''));
        console.error(`failure screenshots and the server log: ${failureDir}`);
      }
      fs.rmSync(state.tmp, { recursive: true, force: true });
      state.tmp = null;
    }
  }
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(signal, () => {
    cleanUp().finally(() => process.exit(1));
  });
}

before(async () => {
  assert.ok(binary && fs.existsSync(binary), `IOTREG_BINARY must name the iotreg binary (got ${binary})`);
  assert.ok(sourceDir && fs.existsSync(path.join(sourceDir, 'samples')), `IOTREG_SOURCE_DIR must name the source tree (got ${sourceDir})`);
  assert.ok(fs.existsSync(chromiumPath), `no Chromium at ${chromiumPath}`);

  state.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'iotreg-browser-'));
  state.database = createRegistryDatabase(state.tmp);

  // The sample registry, as scripts/demo.sh builds it: exit 1 because some records are
  // malformed on purpose.
  const samples = fs.readdirSync(path.join(sourceDir, 'samples'))
    .filter((name) => name.startsWith('0')).sort()
    .map((name) => path.join(sourceDir, 'samples', name));
  assert.ok(samples.length >= 8, 'the sample declarations are missing');
  run(['--db', state.database.location, '--as-of', AS_OF, 'import', '--quiet', ...samples], { allow: [0, 1] });

  const created = run(['--db', state.database.location, 'token', 'create', '--role', 'officer', '--name', 'Olivia Officer']);
  state.token = created.stdout.trim().split('\n').pop().trim();
  assert.match(state.token, /^iotreg_[0-9a-f]{64}$/, `token create printed: ${created.stdout}`);

  const port = await freePort();
  state.base = `http://127.0.0.1:${port}`;
  state.server = spawn(binary, ['--db', state.database.location, '--as-of', AS_OF, 'serve', '--listen', `127.0.0.1:${port}`],
    { stdio: ['ignore', 'pipe', 'pipe'] });
  state.server.stdout.on('data', (chunk) => state.serverLog.push(chunk.toString()));
  state.server.stderr.on('data', (chunk) => state.serverLog.push(chunk.toString()));
  await waitForHealth(state.base, state.server);
  state.me = await api('/api/v1/me');
  assert.equal(state.me.role, 'officer');

  state.context = await chromium.launchPersistentContext(path.join(state.tmp, 'chromium-profile'), {
    executablePath: chromiumPath,
    headless: true,
    viewport: WIDE,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--disable-dev-shm-usage'],
  });
  state.page = state.context.pages()[0] ?? await state.context.newPage();
  state.page.setDefaultTimeout(15_000);
  state.page.on('pageerror', (error) => state.pageErrors.push(`page error: ${error.message}`));
  // Chromium logs every non-2xx fetch as "Failed to load resource"; the tests provoke a 401, a
  // 409 and the public pages of REFUSED_PAGES on purpose, and the public pages, which name no
  // icon, leave Chromium asking for /favicon.ico (404). Anything else (a CSP violation, an
  // exception) is a failure.
  state.page.on('console', (message) => {
    if (message.type() !== 'error') return;
    if (/^Failed to load resource: the server responded with a status of (401|409)\b/.test(message.text())) return;
    const { url } = message.location();
    const refused = [...Object.values(REFUSED_PAGES), '/favicon.ico'].map((address) => `${state.base}${address}`);
    if (/status of 4\d\d\b/.test(message.text()) && refused.includes(url)) return;
    state.pageErrors.push(`console error: ${message.text()}${url ? ` (${url})` : ''}`);
  });
});

after(cleanUp);

// ---------------------------------------------------------------------------------------------
// The tests, in the order an officer works

test('the UI files can be embedded in the binary and are served with a CSP', async () => {
  for (const name of ['index.html', 'app.js', 'app.css', 'accessibility.html']) {
    const text = fs.readFileSync(path.join(sourceDir, 'registry', 'http', 'web', name), 'utf8');
    assert.ok(!text.includes(')iotreg_text"'), `${name} contains the raw string delimiter`);
    // iotreg_embed_files passes the text through file(CONFIGURE ... @ONLY).
    assert.doesNotMatch(text, /@[A-Za-z_0-9/.+-]+@/, `${name} contains a CMake @VARIABLE@ reference`);
    assert.ok(!/^#cmakedefine/m.test(text), `${name} contains #cmakedefine`);
  }
  const index = await fetch(`${state.base}/`);
  assert.equal(index.status, 200);
  assert.match(index.headers.get('content-type') ?? '', /text\/html/);
  assert.match(index.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const html = await index.text();
  assert.equal(html, fs.readFileSync(path.join(sourceDir, 'registry/http/web/index.html'), 'utf8'));
  for (const [asset, type] of [['/assets/app.js', /javascript/], ['/assets/app.css', /text\/css/]]) {
    const response = await fetch(`${state.base}${asset}`);
    assert.equal(response.status, 200, asset);
    assert.match(response.headers.get('content-type') ?? '', type, asset);
  }
});

uiTest('sign-in refuses a wrong token and accepts the officer token', async (page) => {
  await page.goto(`${state.base}/#/search`);
  await heading(page, 'Sign in');
  const tokenField = page.getByLabel('API token');
  await tokenField.fill(`iotreg_${'0'.repeat(64)}`);
  await page.getByRole('button', { name: 'Sign in' }).click();
  const refused = await alertText(page);
  assert.match(refused, /Sign-in failed/);
  assert.match(refused, /401 unauthorized/);
  assert.equal(await sessionCookie(), undefined);
  await heading(page, 'Sign in');

  await tokenField.fill(state.token);
  await tokenField.press('Enter');
  await heading(page, 'Products');
  await page.getByText(`Signed in as officer (token ${state.me.token_id})`).waitFor();
  assert.equal(await page.getByRole('alert').isVisible(), false, 'the sign-in error is still shown');
  // The token became a session: an HttpOnly, SameSite=Strict cookie that scripts cannot read,
  // and the token is kept nowhere in the page.
  const cookie = await sessionCookie();
  assert.ok(cookie, 'no session cookie was set');
  assert.match(cookie.value, /^[0-9a-f]{64}$/);
  assert.deepEqual([cookie.httpOnly, cookie.sameSite, cookie.path], [true, 'Strict', '/']);
  assert.doesNotMatch(await page.evaluate(() => document.cookie), /iotreg_session/);
  const stored = await page.evaluate(() => JSON.stringify({ ...sessionStorage }) + JSON.stringify({ ...localStorage }));
  assert.ok(!stored.includes(state.token.slice(7)), 'the token is kept in the page\'s storage');
  assert.equal(await tokenField.count(), 0);

  // A reload keeps the session (the cookie) and validates it again.
  await page.reload();
  await heading(page, 'Products');
});

uiTest('search shows the products and facet counts the API returns, with More for the next page', async (page) => {
  // Everything: 74 products, more than one page of 50.
  const all = await expectSearchMatches(page, 'limit=50');
  const total = Object.values(all.facets.status).reduce((sum, count) => sum + count, 0);
  assert.ok(total > 50, `expected more than one page of products, the API has ${total}`);
  assert.ok(all.next_cursor, 'the API gave no next_cursor for the first page');
  await page.getByText(`${total} products match.`).waitFor();
  await page.getByRole('button', { name: 'More results' }).click();
  const second = await api(`/api/v1/products?limit=50&cursor=${encodeURIComponent(all.next_cursor)}`);
  await eventually(async () => {
    assert.deepEqual(await resultIds(page), [...all.items, ...second.items].map((item) => item.id));
  });
  assert.equal((await resultIds(page)).length, total);
  assert.equal(await page.getByRole('button', { name: 'More results' }).isVisible(), second.next_cursor !== null);

  // Free text, submitted with Enter.
  const search = page.getByLabel('Search text');
  await search.fill('orrin');
  await search.press('Enter');
  await eventually(async () => assert.match(page.url(), /#\/search\?q=orrin$/));
  const orrin = await expectSearchMatches(page, 'q=orrin&limit=50');
  assert.ok(orrin.items.length >= 9, `expected the Orrin products, got ${orrin.items.length}`);
  const manufacturers = await page.locator('table.results tbody tr td:nth-child(3)').allTextContents();
  assert.ok(manufacturers.every((name) => name === 'Orrin Displays Corporation'), manufacturers.join(', '));

  // A status facet narrows the search and is shown as pressed.
  await page.locator('button.facet[data-facet="status"][data-value="non_compliant"]').click();
  await eventually(async () => assert.match(page.url(), /status=non_compliant/));
  const orrinFailing = await expectSearchMatches(page, 'q=orrin&status=non_compliant&limit=50');
  assert.ok(orrinFailing.items.length > 0 && orrinFailing.items.length < orrin.items.length);
  assert.equal(await page.getByLabel('Status', { exact: true }).inputValue(), 'non_compliant');
  assert.equal(await page.locator('button.facet[data-value="non_compliant"]').getAttribute('aria-pressed'), 'true');

  // The manufacturer and flag filters from the form.
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await page.getByText(`${total} products match.`).waitFor();
  await page.getByLabel('Manufacturer').fill('Nidocare AB');
  await page.getByLabel('Flag', { exact: true }).selectOption('true');
  await page.getByRole('button', { name: 'Search', exact: true }).click();
  const nidocareFlagged = await expectSearchMatches(page, 'manufacturer=Nidocare+AB&flagged=true&limit=50');
  assert.ok(nidocareFlagged.items.length > 0, 'expected a flagged Nidocare product');
  assert.ok(nidocareFlagged.items.every((item) => item.flagged && item.manufacturer === 'Nidocare AB'));
});

// The counts a facet group shows, as [value, count] sorted by value.
async function shownFacet(page, group) {
  return facetCounts(page, group);
}

uiTest('filters are linkable and a chosen facet value keeps the others listed with their counts', async (page) => {
  // Every filter of the form comes back from the address.
  const linked = { class: 'camera', failing: 'default-password', status: 'non_compliant', support_ends_after: '2026-01-01',
    support_ends_before: '2040-01-01', changed_since: '2020-01-01', manufacturer: 'lumora', flag_state: 'raised', remedied: 'false' };
  await page.goto(`${state.base}/#/search?${new URLSearchParams(linked)}`);
  await heading(page, 'Products');
  const expected = await expectSearchMatches(page, `${new URLSearchParams(linked)}&limit=50`);
  for (const [label, value] of [['Product class', 'camera'], ['Failing check', 'default-password'], ['Flag state', 'raised'],
    ['Remedied', 'false'], ['Support ends after', '2026-01-01'], ['Support ends before', '2040-01-01'], ['Changed since', '2020-01-01']]) {
    await eventually(async () => assert.equal(await page.getByLabel(label, { exact: true }).inputValue(), value, label));
  }
  assert.ok(expected.items.every((item) => item.class === 'camera' && item.failing_checks.includes('default-password')));

  // A class facet: choosing one keeps the other classes listed with the counts the API gives.
  await page.goto(`${state.base}/#/search`);
  await heading(page, 'Products');
  const all = await expectSearchMatches(page, 'limit=50');
  await eventually(async () => assert.deepEqual(await shownFacet(page, 'class'), sortedEntries(all.facets.class)));
  const classes = Object.keys(all.facets.class).filter(Boolean);
  assert.ok(classes.length > 5, 'expected more classes than a facet lists before Show all');
  // The top five first, then Show all.
  assert.equal(await page.locator('[data-facet-group="class"] li:not([hidden])').count(), 5);
  await page.locator('[data-facet-group="class"]').getByRole('button', { name: `Show all ${classes.length}` }).click();
  assert.equal(await page.locator('[data-facet-group="class"] li:not([hidden])').count(), classes.length);
  await page.locator('button.facet[data-facet="class"][data-value="camera"]').click();
  await eventually(async () => assert.match(page.url(), /#\/search\?class=camera$/));
  const cameras = await expectSearchMatches(page, 'class=camera&limit=50');
  await eventually(async () => assert.deepEqual(await shownFacet(page, 'class'), sortedEntries(cameras.facets.class)));
  assert.ok(Object.keys(cameras.facets.class).length > 1, 'the other classes are not listed');
  assert.equal(await page.locator('button.facet[data-facet="class"][data-value="camera"]').getAttribute('aria-pressed'), 'true');
  await eventually(async () => assert.deepEqual(await shownFacet(page, 'failing_check'), sortedEntries(cameras.facets.failing_check)));
  await eventually(async () => assert.deepEqual(await shownFacet(page, 'flag_state'), sortedEntries(cameras.facets.flag_state)));
  // A failing check on top: the class facet still lists every class the check fails in.
  const check = Object.keys(cameras.facets.failing_check)[0];
  await page.locator(`button.facet[data-facet="failing_check"][data-value="${check}"]`).click();
  await eventually(async () => assert.match(page.url(), new RegExp(`class=camera&failing=${check}$`)));
  const both = await expectSearchMatches(page, `class=camera&failing=${check}&limit=50`);
  await eventually(async () => assert.deepEqual(await shownFacet(page, 'class'), sortedEntries(both.facets.class)));
  await eventually(async () => assert.deepEqual(await shownFacet(page, 'failing_check'), sortedEntries(both.facets.failing_check)));

  // The export menu downloads the current search: CSV rows are the products listed.
  await page.getByText('Export', { exact: true }).click();
  const link = page.getByRole('link', { name: 'CSV', exact: true });
  const href = await link.getAttribute('href');
  assert.equal(href, `/api/v1/export?class=camera&failing=${check}&format=csv`);
  const [download] = await Promise.all([page.waitForEvent('download'), link.click()]);
  const csv = fs.readFileSync(await download.path(), 'utf8');
  const lines = csv.trim().split(/\r?\n/);
  const header = lines[0].split(',');
  const idColumn = header.indexOf('id');
  assert.ok(idColumn >= 0, lines[0]);
  assert.deepEqual(lines.slice(1).map((line) => Number(line.split(',')[idColumn])).sort((a, b) => a - b),
    both.items.map((item) => item.id).sort((a, b) => a - b));
  for (const [name, format] of [['CSV for Excel', 'format=csv&bom=true'], ['NDJSON', 'format=ndjson'], ['XLSX', 'format=xlsx']]) {
    assert.equal(await page.getByRole('link', { name, exact: true }).getAttribute('href'),
      `/api/v1/export?class=camera&failing=${check}&${format}`);
  }
});

uiTest('the flag queue filters by manufacturer and sorts newest first, as the API does', async (page) => {
  await page.goto(`${state.base}/#/flags?queue=all`);
  await heading(page, 'Flag queue');
  await expectFlagQueue(page, 'all');
  await page.getByLabel('Manufacturer').fill('orrin');
  await page.getByLabel('Order').selectOption('-raised_at');
  await page.getByRole('button', { name: 'Show', exact: true }).click();
  await eventually(async () => assert.match(page.url(), /#\/flags\?queue=all&manufacturer=orrin&sort=-raised_at$/));
  const listed = await api('/api/v1/flags?manufacturer=orrin&sort=-raised_at&limit=50');
  assert.ok(listed.items.length > 1 && listed.items.every((flag) => /orrin/i.test(flag.manufacturer)));
  await eventually(async () => assert.deepEqual(await shownFlagIds(page), listed.items.map((flag) => flag.id)));
  const ids = await shownFlagIds(page);
  assert.deepEqual(ids, [...ids].sort((a, b) => b - a));
  // The queue tabs keep the filter.
  assert.match(await page.locator('nav.queue-tabs a[data-queue="raised"]').getAttribute('href'), /manufacturer=orrin&sort=-raised_at/);
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await eventually(async () => assert.match(page.url(), /#\/flags\?queue=all$/));
  await page.goto(`${state.base}/#/search`);
  await heading(page, 'Products');
});

// The product whose second declaration shortened its support period (samples/README.md).
let shortened = null;

uiTest('a flagged product shows its findings with requirement references and its version diff', async (page) => {
  const found = await api('/api/v1/products?q=OQ65&limit=50');
  assert.equal(found.items.length, 1);
  shortened = await api(`/api/v1/products/${found.items[0].id}`);
  assert.ok(shortened.flagged, 'OQ65-A7 should be flagged');
  assert.ok(shortened.versions.length >= 2, 'OQ65-A7 should have two versions');

  await page.getByRole('button', { name: 'Clear filters' }).click();
  await eventually(async () => assert.match(page.url(), /#\/search$/));
  await eventually(async () => assert.equal(await page.getByLabel('Manufacturer').inputValue(), ''));
  const search = page.getByLabel('Search text');
  await search.fill('OQ65');
  await search.press('Enter');
  await page.getByRole('link', { name: 'Orrin OQ65-A7' }).click();
  await heading(page, 'Orrin OQ65-A7');
  assert.match(page.url(), new RegExp(`#/products/${shortened.id}$`));

  // Findings: one row per finding, each with its outcome, level and requirement reference.
  const rows = page.locator('table.findings tbody tr');
  await eventually(async () => assert.equal(await rows.count(), shortened.findings.length));
  const checks = new Map((await api('/api/v1/checks')).items.map((check) => [check.id, check]));
  const passing = shortened.findings.filter((finding) => finding.outcome === 'pass' && !finding.message);
  assert.ok(passing.length > 0, 'expected a passing finding without a message');
  for (const finding of shortened.findings) {
    const row = page.locator(`table.findings tbody tr[data-check="${finding.check}"]`);
    const cells = await row.locator('td').evaluateAll((tds) => tds.map((td) => td.textContent));
    assert.equal(cells[0], finding.check);
    assert.equal(cells[1], finding.outcome.replace('_', ' '));
    assert.equal(cells[2], finding.level);
    assert.equal(cells[3], finding.requirement);
    // A pass says what was checked: the check's title and requirement.
    const said = finding.message || (finding.outcome === 'pass'
      ? `Met: ${checks.get(finding.check).title} (${finding.requirement}).` : cells[5]);
    assert.equal(cells[5], said);
    assert.notEqual(cells[5], '', `finding ${finding.check} says nothing`);
  }
  const failing = shortened.findings.find((finding) => finding.outcome === 'fail');
  assert.equal(failing.check, 'support-period');
  assert.match(failing.requirement, /EN 303 645/);
  assert.equal(await page.locator('table.findings tr[data-check="support-period"]').getAttribute('data-outcome'), 'fail');

  // The flag, raised by the import.
  const flag = shortened.flags[0];
  assert.equal(flag.state, 'raised');
  const flagBlock = page.locator(`section.flag[data-flag-id="${flag.id}"]`);
  assert.equal(await flagBlock.getAttribute('data-state'), 'raised');
  assert.equal(await flagBlock.locator('tbody tr').count(), flag.history.length);

  // The latest declaration, flattened.
  await page.locator('table.declaration').getByRole('rowheader', { name: 'support.end_date', exact: true }).waitFor();
  const declared = flattenDeclaration(shortened.declaration);
  assert.equal(await page.locator('table.declaration tbody tr').count(), Object.keys(declared).length);

  // The versions, and the diff between the last two (shown by default).
  assert.equal(await page.locator('#versions tbody tr').count(), shortened.versions.length);
  const [older, newer] = shortened.versions.slice(-2);
  const expected = expectedDiff(older.declaration, newer.declaration);
  const shownDiff = async () => Object.fromEntries(await page.locator('table.diff tbody tr').evaluateAll(
    (trs) => trs.map((tr) => [tr.dataset.path, tr.dataset.change])));
  assert.deepEqual(await shownDiff(), expected);
  assert.equal(expected['support.end_date'], 'changed');
  const endDate = page.locator('table.diff tr[data-path="support.end_date"] td');
  assert.deepEqual(await endDate.allTextContents(), ['changed', older.declaration.support.end_date, newer.declaration.support.end_date]);
  assert.equal(newer.declaration.support.end_date, '2029-06-30');
  const counts = { changed: 0, added: 0, removed: 0 };
  for (const change of Object.values(expected)) counts[change] += 1;
  await page.getByText(`From version ${older.version} to version ${newer.version}: ${counts.changed} changed, ${counts.added} added, ${counts.removed} removed`).waitFor();

  // Any two versions: a version against itself has no differences; back again, reversed.
  await page.getByLabel('From version').selectOption(String(newer.version));
  await page.getByRole('button', { name: 'Compare' }).click();
  await page.getByText(`Version ${newer.version} compared with itself`).waitFor();
  assert.equal(await page.locator('table.diff').count(), 0);
  await page.getByLabel('To version').selectOption(String(older.version));
  await eventually(async () => assert.deepEqual(await shownDiff(), expectedDiff(newer.declaration, older.declaration)));
});

uiTest('confirming the flag needs a reason and changes its state', async (page) => {
  const flag = shortened.flags[0];
  const flagBlock = page.locator(`section.flag[data-flag-id="${flag.id}"]`);
  const confirm = flagBlock.getByRole('button', { name: 'Confirm flag' });

  await confirm.click();
  assert.match(await alertText(page), /a reason is required/);
  assert.equal((await api(`/api/v1/products/${shortened.id}`)).flags[0].state, 'raised');

  const reason = 'Support period shortened from 2031-12-31 to 2029-06-30: prohibition confirmed <b>now</b>';
  await flagBlock.getByLabel('Reason').fill(reason);
  await confirm.click();
  await page.getByRole('status').getByText(`Flag ${flag.id} (Orrin OQ65-A7) confirmed.`).waitFor();
  await eventually(async () => assert.equal(await flagBlock.getAttribute('data-state'), 'confirmed'));
  assert.equal(await page.getByRole('alert').isVisible(), false);

  const after = await api(`/api/v1/products/${shortened.id}`);
  assert.equal(after.flags[0].state, 'confirmed');
  const last = after.flags[0].history.at(-1);
  assert.equal(last.state, 'confirmed');
  assert.equal(last.reason, reason);
  assert.equal(last.actor, officerName());
  // The history on the page, reason shown as text (not markup).
  const historyRows = flagBlock.locator('tbody tr');
  assert.equal(await historyRows.count(), after.flags[0].history.length);
  assert.deepEqual((await historyRows.last().locator('td').allTextContents()).slice(1),
    ['confirmed', officerName(), reason]);
  assert.equal(await page.locator('section.flag b').count(), 0);
  // A confirmed flag can be lifted or dismissed, not confirmed again.
  assert.equal(await flagBlock.getByRole('button', { name: 'Confirm flag' }).count(), 0);
  assert.equal(await flagBlock.getByRole('button', { name: 'Lift flag' }).count(), 1);
  assert.equal(await flagBlock.getByRole('button', { name: 'Dismiss flag' }).count(), 1);
});

let dismissed = null;

uiTest('the flag queue lists the raised flags and dismisses one from there', async (page) => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Flag queue' }).click();
  await heading(page, 'Flag queue');
  const raised = await api('/api/v1/flags?state=raised&limit=50');
  await eventually(async () => assert.deepEqual(await shownFlagIds(page), raised.items.map((flag) => flag.id)));
  assert.ok(raised.items.length > 5);
  assert.ok(!raised.items.some((flag) => flag.id === shortened.flags[0].id), 'the confirmed flag is still raised');

  dismissed = raised.items[0];
  const name = `${dismissed.brand} ${dismissed.model}`;
  await page.getByRole('button', { name: `Dismiss flag ${dismissed.id} (${name})` }).click();
  const dialog = page.getByRole('dialog', { name: `Dismiss flag ${dismissed.id}` });
  await dialog.waitFor();
  await dialog.getByRole('button', { name: 'Dismiss flag' }).click();
  assert.match(await alertText(page), /a reason is required/);
  const reason = 'Manufacturer withdrew the model from the UK market before sale';
  await dialog.getByLabel('Reason').fill(reason);
  await dialog.getByRole('button', { name: 'Dismiss flag' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('status').getByText(`Flag ${dismissed.id} (${name}) dismissed.`).waitFor();
  const stored = await api('/api/v1/flags?state=dismissed&limit=50');
  assert.ok(stored.items.some((flag) => flag.id === dismissed.id), 'the API does not list the flag as dismissed');
  // The list and the counts are reloaded: the dismissed flag has left the raised list.
  const afterDismiss = await expectFlagQueue(page, 'raised');
  assert.ok(!afterDismiss.ids.includes(dismissed.id), 'the dismissed flag is still listed as raised');

  // Acting on a flag whose state no longer allows it shows the API's error.
  await page.reload();
  await heading(page, 'Flag queue');
  const other = raised.items[1];
  const response = await fetch(`${state.base}/api/v1/flags/${other.id}/confirm`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${state.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ reason: 'confirmed behind the page\'s back' }),
  });
  assert.equal(response.status, 200);
  await page.getByRole('button', { name: `Dismiss flag ${other.id} (${other.brand} ${other.model})` }).waitFor();
  await page.getByRole('button', { name: `Confirm flag ${other.id} (${other.brand} ${other.model})` }).click();
  const stale = page.getByRole('dialog');
  await stale.getByLabel('Reason').fill('second confirmation');
  await stale.getByRole('button', { name: 'Confirm flag' }).click();
  // The refusal closes the dialog, stays in the page's alert region, and the list is reloaded.
  await stale.waitFor({ state: 'detached' });
  const refused = await alertText(page);
  assert.match(refused, /409 conflict/);
  assert.match(refused, new RegExp(`flag ${other.id} is confirmed`));
  const afterRefusal = await expectFlagQueue(page, 'raised');
  assert.ok(!afterRefusal.ids.includes(other.id), 'the flag confirmed behind the page is still listed as raised');
});

uiTest('the audit view shows the flag.confirm event with its reason and actor', async (page) => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
  await heading(page, 'Audit log');
  const productField = page.getByLabel('Product ID');
  await productField.fill(String(shortened.id));
  await productField.press('Enter');
  await eventually(async () => assert.match(page.url(), new RegExp(`#/audit\\?product=${shortened.id}$`)));
  const expected = await api(`/api/v1/audit?product=${shortened.id}&limit=50`);
  const shownIds = () => page.locator('table.audit tbody tr[data-event-id]').evaluateAll((trs) => trs.map((tr) => Number(tr.dataset.eventId)));
  await eventually(async () => assert.deepEqual(await shownIds(), expected.items.map((event) => event.id)));
  const event = expected.items.find((item) => item.action === 'flag.confirm');
  assert.ok(event, 'the API has no flag.confirm event for the product');
  const row = page.locator(`table.audit tbody tr[data-event-id="${event.id}"]`);
  const cells = await row.locator('td').evaluateAll((tds) => tds.map((td) => td.textContent));
  assert.equal(cells[2], officerName());
  // The details in a sentence, never raw keys.
  assert.equal(cells[3], `Confirmed flag ${event.subject_id} of product ${shortened.id} (raised → confirmed). `
    + 'Reason: “Support period shortened from 2031-12-31 to 2029-06-30: prohibition confirmed <b>now</b>”.');
  assert.equal(event.details.reason, 'Support period shortened from 2031-12-31 to 2029-06-30: prohibition confirmed <b>now</b>');
  // Newest first, as the API lists them.
  const shown = await shownIds();
  assert.deepEqual(shown, [...shown].sort((a, b) => b - a));
  const importRow = page.locator('table.audit tbody tr[data-action="import"]').first();
  assert.match(await importRow.locator('td').nth(3).textContent(),
    /^Imported \d+ declarations? from .+ \(\w+\): \d+ stored, \d+ rejected/);
  const sentences = await page.locator('table.audit tbody tr td:nth-child(4)').allTextContents();
  for (const raw of ['records_read', 'evaluation_id', 'product_id', 'flags_raised']) {
    assert.ok(sentences.every((text) => !text.includes(raw)), `an audit sentence shows the key ${raw}`);
  }

  // By actor: the two actions taken through the UI's token and the one behind its back.
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await eventually(async () => assert.match(page.url(), /#\/audit$/));
  await eventually(async () => assert.equal(await page.getByLabel('Product ID').inputValue(), ''));
  const actorField = page.getByLabel('Actor');
  await actorField.fill(officerName());
  await actorField.press('Enter');
  const byActor = await api(`/api/v1/audit?actor=${encodeURIComponent(officerName())}&limit=50`);
  await eventually(async () => assert.deepEqual(await shownIds(), byActor.items.map((item) => item.id)));
  const actions = byActor.items.map((item) => item.action).sort();
  assert.deepEqual(actions, ['flag.confirm', 'flag.confirm', 'flag.dismiss']);
  const actors = await page.locator('table.audit tbody tr[data-event-id] td:nth-child(3)').allTextContents();
  assert.ok(actors.every((actor) => actor === officerName()), actors.join(', '));

  // By day: the events' own day has them all; up to the day before has none of them.
  const day = byActor.items[0].at.slice(0, 10);
  const dayBefore = new Date(Date.parse(`${day}T00:00:00Z`) - 86_400_000).toISOString().slice(0, 10);
  await page.getByLabel('From', { exact: true }).fill(day);
  await page.getByLabel('To', { exact: true }).fill(day);
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  await eventually(async () => assert.match(page.url(), new RegExp(`since=${day}&until=${day}$`)));
  const onDay = await api(`/api/v1/audit?actor=${encodeURIComponent(officerName())}&since=${day}&until=${day}&limit=50`);
  assert.equal(onDay.items.length, 3);
  await eventually(async () => assert.deepEqual(await shownIds(), onDay.items.map((item) => item.id)));
  await page.getByLabel('From', { exact: true }).fill('');
  await page.getByLabel('To', { exact: true }).fill(dayBefore);
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  await page.getByText('No events match.').waitFor();
  assert.deepEqual(await shownIds(), []);
});

uiTest('the dashboard lists /api/v1/stats as bars, each a link to the search that lists them', async (page) => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
  await heading(page, 'Dashboard');
  const stats = await api('/api/v1/stats');
  const figure = (title) => page.getByRole('figure', { name: title, exact: true });
  const bars = (title) => figure(title).locator('svg rect.bar')
    .evaluateAll((rects) => rects.map((rect) => [rect.dataset.label, Number(rect.dataset.value)]));
  const byLabel = ([x], [y]) => x.localeCompare(y);

  await figure('Products by status').locator('ul.bar-list').waitFor();
  assert.deepEqual((await bars('Products by status')).sort(byLabel), sortedEntries(stats.by_status));
  assert.equal(stats.by_status.non_compliant, 19, 'samples/README.md: 19 non-compliant under dcms-2019');
  assert.deepEqual((await bars('Products by type')).sort(byLabel), sortedEntries(stats.by_type));
  assert.deepEqual((await bars('Products by class')).sort(byLabel), sortedEntries(stats.by_class));
  assert.deepEqual((await bars('Flags by state')).sort(byLabel), sortedEntries(stats.flags_by_state));
  assert.deepEqual(await bars('Non-compliant products by manufacturer (top 10)'),
    stats.noncompliant_by_manufacturer.map((entry) => [entry.manufacturer, entry.products]));
  assert.deepEqual(await bars('Non-compliance by requirement'),
    stats.non_compliance_by_requirement.map((entry) => [entry.check, entry.products]));
  const quarters = await bars('Security-update support ending per quarter');
  assert.equal(stats.support_end_by_quarter.length, 12);
  assert.deepEqual(quarters, stats.support_end_by_quarter.map((entry) => [entry.quarter, entry.products]));
  assert.equal(quarters[0][0], '2026-Q4');

  // Bars are drawn to scale: the longest status bar belongs to the largest count.
  const widths = await figure('Products by status').locator('svg rect.bar')
    .evaluateAll((rects) => rects.map((rect) => [rect.dataset.label, Number(rect.getAttribute('width'))]));
  const widest = widths.reduce((best, entry) => (entry[1] > best[1] ? entry : best));
  const largest = Object.entries(stats.by_status).reduce((best, entry) => (entry[1] > best[1] ? entry : best));
  assert.equal(widest[0], largest[0]);

  // A manufacturer's bar leads to its non-compliant products: as many as the bar says.
  const top = stats.noncompliant_by_manufacturer[0];
  await figure('Non-compliant products by manufacturer (top 10)')
    .getByRole('link', { name: `${top.manufacturer} ${top.products} non-compliant products` }).click();
  await heading(page, 'Products');
  const params = new URLSearchParams(page.url().split('?')[1]);
  assert.deepEqual([params.get('manufacturer'), params.get('status')], [top.manufacturer, 'non_compliant']);
  const listed = await expectSearchMatches(page, `${params}&limit=50`);
  assert.equal(listed.items.length, top.products);

  // A requirement's bar leads to the products failing its check; a quarter's to the products
  // whose support ends in it.
  await page.goBack();
  await heading(page, 'Dashboard');
  const requirement = stats.non_compliance_by_requirement[0];
  await figure('Non-compliance by requirement').locator(`a.bar-row[data-label="${requirement.check}"]`).click();
  await heading(page, 'Products');
  assert.match(page.url(), new RegExp(`#/search\\?failing=${requirement.check}$`));
  assert.equal((await expectSearchMatches(page, `failing=${requirement.check}&limit=50`)).items.length, requirement.products);
  await page.goBack();
  await heading(page, 'Dashboard');
  const quarter = stats.support_end_by_quarter.find((entry) => entry.products > 0);
  await figure('Security-update support ending per quarter').locator(`a.bar-row[data-label="${quarter.quarter}"]`).click();
  await heading(page, 'Products');
  const inQuarter = await expectSearchMatches(page, `${new URLSearchParams(page.url().split('?')[1])}&limit=50`);
  assert.equal(inQuarter.items.length, quarter.products);

  // Flags by state lead to the flag queue of that state.
  await page.goBack();
  await heading(page, 'Dashboard');
  await figure('Flags by state').locator('a.bar-row[data-label="withdrawn"]').click();
  await heading(page, 'Flag queue');
  await expectFlagQueue(page, 'withdrawn');
});

const flagName = (flag) => `${flag.brand} ${flag.model}`;

uiTest('bulk confirm puts one reason on the selected raised flags, and the counts follow without a reload', async (page) => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Flag queue' }).click();
  await heading(page, 'Flag queue');
  const before = await expectFlagQueue(page, 'raised');
  const shown = before.ids.length;
  assert.ok(shown >= 4, `expected several raised flags, the API has ${shown}`);
  await page.evaluate(() => { window.iotregNotReloaded = true; });

  // "Select all on this page" ticks every row, and unticks them again.
  const selectAll = page.getByLabel('Select all on this page');
  const confirmSelected = page.getByRole('button', { name: 'Confirm selected' });
  assert.equal(await confirmSelected.isDisabled(), true);
  await selectAll.check();
  await page.getByText(`${shown} of ${shown} selected`).waitFor();
  assert.equal(await page.locator('table.flags tbody input[type="checkbox"]:checked').count(), shown);
  await selectAll.uncheck();
  await page.getByText(`0 of ${shown} selected`).waitFor();
  assert.equal(await page.locator('table.flags tbody input[type="checkbox"]:checked').count(), 0);

  const chosen = before.items.slice(0, 2);
  for (const flag of chosen) {
    await page.getByRole('checkbox', { name: `Select flag ${flag.id} (${flagName(flag)})` }).check();
  }
  await page.getByText(`2 of ${shown} selected`).waitFor();
  assert.equal(await selectAll.isChecked(), false);
  await confirmSelected.click();
  const dialog = page.getByRole('dialog', { name: 'Confirm 2 flags' });
  await dialog.waitFor();
  for (const flag of chosen) await dialog.getByText(`Flag ${flag.id}: ${flagName(flag)}`).waitFor();

  // One reason, required, and an optional stop-notice reference for all of them.
  await dialog.getByRole('button', { name: 'Confirm 2 flags' }).click();
  assert.match(await alertText(page), /a reason is required/);
  const reason = 'Universal default passwords confirmed on test units of both models';
  await dialog.getByLabel('Reason').fill(reason);
  await dialog.getByLabel('Stop-notice reference (optional)').fill('SN-2026-0141');
  await dialog.getByRole('button', { name: 'Confirm 2 flags' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('status').getByText(`2 flags confirmed: ${chosen[0].id}, ${chosen[1].id}.`).waitFor();

  for (const { id } of chosen) {
    const flag = await apiFlag(id);
    assert.equal(flag.state, 'confirmed');
    assert.equal(flag.notice, 'SN-2026-0141');
    const last = flag.history.at(-1);
    assert.deepEqual([last.state, last.reason, last.actor], ['confirmed', reason, officerName()]);
  }
  const after = await expectFlagQueue(page, 'raised');
  assert.equal(after.counts.raised, before.counts.raised - 2);
  assert.equal(after.counts.confirmed, before.counts.confirmed + 2);
  assert.ok(!after.ids.some((id) => chosen.some((flag) => flag.id === id)), 'a confirmed flag is still listed as raised');
  assert.equal(await page.evaluate(() => window.iotregNotReloaded), true, 'the page was reloaded');
  assert.match(page.url(), /#\/flags$/);

  // The confirmed tab lists them, with the notice.
  await page.locator('nav.queue-tabs a[data-queue="confirmed"]').click();
  const confirmed = await expectFlagQueue(page, 'confirmed');
  for (const flag of chosen) {
    assert.ok(confirmed.ids.includes(flag.id));
    await page.locator(`table.flags tbody tr[data-flag-id="${flag.id}"]`).getByText('Stop notice SN-2026-0141').waitFor();
  }
});

uiTest('a bulk action the server refuses changes no flag and shows why', async (page) => {
  await page.locator('nav.queue-tabs a[data-queue="raised"]').click();
  const before = await expectFlagQueue(page, 'raised');
  const [first, second] = before.items;
  // From the keyboard: Space ticks a flag.
  for (const flag of [first, second]) {
    await page.getByRole('checkbox', { name: `Select flag ${flag.id} (${flagName(flag)})` }).focus();
    await page.keyboard.press('Space');
  }
  await page.getByText(`2 of ${before.ids.length} selected`).waitFor();
  // The second flag is dismissed behind the page's back.
  const response = await fetch(`${state.base}/api/v1/flags/${second.id}/dismiss`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${state.token}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ reason: 'dismissed behind the page\'s back' }),
  });
  assert.equal(response.status, 200);

  await page.getByRole('button', { name: 'Dismiss selected' }).focus();
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: 'Dismiss 2 flags' });
  await dialog.waitFor();
  assert.equal(await dialog.getByLabel('Stop-notice reference (optional)').count(), 0, 'only confirm takes a notice');
  // The dialog opens with the reason focused; Tab leads on to its button.
  assert.equal(await page.evaluate(() => document.activeElement?.name), 'reason');
  await page.keyboard.type('No action: duplicate registrations');
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Dismiss 2 flags');
  await page.keyboard.press('Enter');
  await dialog.waitFor({ state: 'detached' });
  const refused = await alertText(page);
  assert.match(refused, /409 conflict/);
  assert.match(refused, new RegExp(`flag ${second.id} is dismissed`));
  // All or none: the first flag is still raised, and the reloaded list no longer has the second.
  assert.equal((await apiFlag(first.id)).state, 'raised');
  const after = await expectFlagQueue(page, 'raised');
  assert.ok(after.ids.includes(first.id) && !after.ids.includes(second.id));
  assert.equal(after.counts.raised, before.counts.raised - 1);
  assert.equal(after.counts.dismissed, before.counts.dismissed + 1);
});

uiTest('a remedied prohibition waits in the remedy queue with its remedying version until lifted there', async (page) => {
  const flag = await apiFlag(shortened.flags[0].id);
  assert.deepEqual([flag.state, flag.remedied], ['confirmed', false]);

  // The manufacturer declares the first declaration again: it becomes version 3, compliant.
  run(['--db', state.database.location, '--as-of', AS_OF, 'import', '--quiet', path.join(sourceDir, 'samples', '03-orrin-displays.csv')],
    { allow: [0, 1] });
  const product = await api(`/api/v1/products/${shortened.id}`);
  assert.equal(product.status, 'compliant');
  assert.equal(product.versions.at(-1).version, 3);
  const remedied = await apiFlag(flag.id);
  assert.deepEqual([remedied.state, remedied.remedied, remedied.remedied_version], ['confirmed', true, 3]);

  await page.getByRole('link', { name: /^Remedy queue/ }).click();
  await eventually(async () => assert.match(page.url(), /#\/flags\?queue=remedied$/));
  await heading(page, 'Flag queue');
  const before = await expectFlagQueue(page, 'remedied');
  assert.ok(before.ids.includes(flag.id), 'the remedied flag is not in the remedy queue');
  const row = page.locator(`table.flags tbody tr[data-flag-id="${flag.id}"]`);
  const headers = await page.locator('table.flags thead th').allTextContents();
  const cells = await row.locator('td').allTextContents();
  assert.equal(cells[headers.indexOf('Remedied by version')], '3');
  assert.equal(cells[headers.indexOf('Version')], String(flag.version));
  assert.equal(await row.getAttribute('data-remedied-version'), '3');

  // Lifting needs a reason.
  await row.getByRole('button', { name: `Lift flag ${flag.id} (Orrin OQ65-A7)` }).click();
  const dialog = page.getByRole('dialog', { name: `Lift flag ${flag.id}` });
  await dialog.getByRole('button', { name: 'Lift flag' }).click();
  assert.match(await alertText(page), /a reason is required/);
  const reason = 'Version 3 declares the 2031-12-31 support period again; prohibition lifted';
  await dialog.getByLabel('Reason').fill(reason);
  await dialog.getByRole('button', { name: 'Lift flag' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByRole('status').getByText(`Flag ${flag.id} (Orrin OQ65-A7) lifted.`).waitFor();

  const after = await expectFlagQueue(page, 'remedied');
  assert.ok(!after.ids.includes(flag.id), 'the lifted flag is still in the remedy queue');
  assert.equal(after.counts.remedied, before.counts.remedied - 1);
  assert.equal(after.counts.lifted, before.counts.lifted + 1);
  const lifted = await apiFlag(flag.id);
  assert.equal(lifted.state, 'lifted');
  const last = lifted.history.at(-1);
  assert.deepEqual([last.state, last.reason, last.actor], ['lifted', reason, officerName()]);
});

// The change rows shown: id, product, kind, from, to, cause, version and time, as the API names them.
async function shownChanges(page) {
  return page.locator('table.changes tbody tr[data-product-id]').evaluateAll((rows) => rows.map((row) => [
    Number(row.dataset.changeId), Number(row.dataset.productId), row.dataset.kind, row.dataset.from, row.dataset.to,
    row.dataset.cause, row.cells[3].textContent, row.querySelector('time').getAttribute('datetime')]));
}

const changeTuple = (change) => [change.id, change.product_id, change.kind, change.from ?? '', change.to, change.cause,
  String(change.version), change.at];

// Waits until the change view shows the first page of GET /api/v1/changes?apiQuery.
async function expectChanges(page, apiQuery) {
  const expected = await api(`/api/v1/changes?${apiQuery}`);
  await eventually(async () => assert.deepEqual(await shownChanges(page), expected.items.map(changeTuple)));
  return expected;
}

function nextDay(date) {
  const day = new Date(`${date}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() + 1);
  return day.toISOString().slice(0, 10);
}

uiTest('what changed lists the status history as the API does, by cause and since a date', async (page) => {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'What changed' }).click();
  await heading(page, 'What changed');
  assert.match(page.url(), /#\/changes$/);
  const first = await expectChanges(page, 'limit=50');
  assert.ok(first.next_cursor, 'expected more than one page of changes');
  await page.getByRole('button', { name: 'More changes' }).click();
  const second = await api(`/api/v1/changes?limit=50&cursor=${encodeURIComponent(first.next_cursor)}`);
  await eventually(async () => assert.deepEqual(await shownChanges(page), [...first.items, ...second.items].map(changeTuple)));

  // Newest first: the lift of the remedied flag, by the officer.
  const newest = first.items[0];
  assert.deepEqual([newest.kind, newest.from, newest.to, newest.cause], ['flag', 'confirmed', 'lifted', officerName()]);
  const newestCells = await page.locator('table.changes tbody tr').first().locator('td').allTextContents();
  assert.equal(newestCells[1], 'Orrin OQ65-A7');
  assert.equal(newestCells[4], `Flag ${newest.flag_id}`);
  assert.match(newestCells[5], /^confirmed → +to lifted/);

  // By cause, typed: only the officer's own actions.
  const causeField = page.getByLabel('Cause');
  await causeField.fill(officerName());
  await causeField.press('Enter');
  await eventually(async () => assert.match(page.url(), /#\/changes\?cause=/));
  const byOfficer = await expectChanges(page, `cause=${encodeURIComponent(officerName())}&limit=50`);
  assert.ok(byOfficer.items.length > 0 && byOfficer.items.length < first.items.length + second.items.length);
  assert.ok(byOfficer.items.every((change) => change.cause === officerName()));

  // By cause, picked from the table: the re-import that remedied the flag.
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await eventually(async () => assert.match(page.url(), /#\/changes$/));
  await expectChanges(page, 'limit=50');
  const importCause = first.items.find((change) => change.cause.startsWith('import run')).cause;
  await page.locator('table.changes tbody tr').getByRole('link', { name: importCause, exact: true }).first().click();
  await eventually(async () => assert.equal(await page.getByLabel('Cause').inputValue(), importCause));
  const byImport = await expectChanges(page, `cause=${encodeURIComponent(importCause)}&limit=50`);
  assert.ok(byImport.items.some((change) => change.product_id === shortened.id && change.to === 'compliant'));

  // Since a date: the day after the newest change has none; its own day has changes.
  const newestDay = newest.at.slice(0, 10);
  await page.getByRole('button', { name: 'Clear filters' }).click();
  await eventually(async () => assert.equal(await page.getByLabel('Cause').inputValue(), ''));
  await page.getByLabel('Since').fill(nextDay(newestDay));
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  const none = await expectChanges(page, `since=${nextDay(newestDay)}&limit=50`);
  assert.equal(none.items.length, 0);
  await page.getByText(`No changes since ${nextDay(newestDay)}.`).waitFor();
  await page.getByLabel('Since').fill(newestDay);
  await page.getByRole('button', { name: 'Filter', exact: true }).click();
  const sinceNewest = await expectChanges(page, `since=${newestDay}&limit=50`);
  assert.ok(sinceNewest.items.length > 0);

  // A filtered view is a link: both filters come back from the address.
  const linked = `#/changes?since=${newestDay}&cause=${encodeURIComponent(officerName())}`;
  await page.goto(`${state.base}/${linked}`);
  await heading(page, 'What changed');
  assert.equal(await page.getByLabel('Since').inputValue(), newestDay);
  assert.equal(await page.getByLabel('Cause').inputValue(), officerName());
  const both = await expectChanges(page, `since=${newestDay}&cause=${encodeURIComponent(officerName())}&limit=50`);
  assert.ok(both.items.length > 0);

  // A product link opens the product.
  const change = both.items[0];
  await page.locator('table.changes tbody tr').first().getByRole('link', { name: `${change.brand} ${change.model}` }).click();
  await heading(page, `${change.brand} ${change.model}`);
  assert.match(page.url(), new RegExp(`#/products/${change.product_id}$`));
});

uiTest('the console works from the keyboard and signs out', async (page) => {
  // Tab from the top of the page to the flag queue link and follow it with Enter.
  await page.goto(`${state.base}/#/dashboard`);
  await heading(page, 'Dashboard');
  await page.locator('.skip-link').focus();
  let reached = false;
  for (let presses = 0; presses < 15 && !reached; presses += 1) {
    await page.keyboard.press('Tab');
    reached = await page.evaluate(() => document.activeElement?.textContent === 'Flag queue');
  }
  assert.ok(reached, 'the flag queue link cannot be reached with Tab');
  const outline = await page.evaluate(() => getComputedStyle(document.activeElement).outlineStyle);
  assert.notEqual(outline, 'none', 'the focused link shows no focus outline');
  await page.keyboard.press('Enter');
  await heading(page, 'Flag queue');

  // Sign-out ends the session on the server: the old cookie is worthless afterwards.
  const before = await sessionCookie();
  await page.getByRole('button', { name: 'Sign out' }).click();
  await heading(page, 'Sign in');
  assert.equal(await sessionCookie(), undefined);
  const replayed = await fetch(`${state.base}/api/v1/me`, { headers: { Cookie: `iotreg_session=${before.value}` } });
  assert.equal(replayed.status, 401);
  await page.reload();
  await heading(page, 'Sign in');
});

// Signs the browser in with `token` through the sign-in form.
async function signIn(page, token, landing = 'Products') {
  await state.context.clearCookies();
  await page.goto(`${state.base}/#/search`);
  await heading(page, 'Sign in');
  await page.getByLabel('API token').fill(token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading(page, landing);
}

uiTest('a manufacturer uploads a file: a dry-run preview with the row-level report, then the real import', async (page) => {
  const created = run(['--db', state.database.location, 'token', 'create', '--role', 'manufacturer', '--name', 'Mina Maker',
    '--manufacturer', 'Lumora Vision Ltd']);
  const token = created.stdout.trim().split('\n').pop().trim();
  await signIn(page, token);
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Upload' }).click();
  await heading(page, 'Upload declarations');
  assert.equal(await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).isVisible(), false);
  await expectAccessible(page, 'the upload page');

  // A file with a new product (twice), a rejected row and another manufacturer's row.
  const file = path.join(state.tmp, 'lumora-upload.csv');
  fs.writeFileSync(file, [
    'manufacturer.name,product.brand,product.model,product.type,passwords.default,support.end_date',
    'Lumora Vision Ltd,Lumora,LV-UP1,smart camera,unique_per_device,2031-12-31',
    'Lumora Vision Ltd,Lumora,LV-UP2,smart camera,unique_per_device,2027-02-30',
    'Kestrel Networks GmbH,Kestrel,KR-UP3,router,unique_per_device,2031-12-31',
    'Lumora Vision Ltd,Lumora,LV-UP1,smart camera,unique_per_device,2031-12-31',
  ].join('\n') + '\n');
  const before = await api('/api/v1/products?q=LV-UP1&limit=5');
  assert.equal(before.items.length, 0);
  await page.getByLabel('Declarations file').setInputFiles(file);
  await page.getByText('Chosen: lumora-upload.csv').waitFor();
  assert.equal(await page.getByRole('button', { name: 'Submit for real' }).isDisabled(), true);
  await page.getByRole('button', { name: 'Preview (dry run)' }).click();
  await page.getByRole('heading', { name: 'Dry run of lumora-upload.csv: nothing stored' }).waitFor();
  const count = (term) => page.locator(`dd[data-count="${term}"]`).textContent();
  assert.deepEqual([await count('Records read'), await count('Rejected')], ['4', '2']);
  // The repeated product is a warning.
  const warnings = await page.locator('table.warnings tbody tr').allTextContents();
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /line 5.*Lumora Vision Ltd Lumora LV-UP1.*declares the same product as line 2/);
  // The rejected rows with their line, field and product.
  const rejected = await page.locator('table.rejected tbody tr').evaluateAll((rows) => rows.map((row) => [...row.cells].map((td) => td.textContent)));
  assert.ok(rejected.some((cells) => cells[1] === 'line 3' && cells[2] === 'Lumora Vision Ltd Lumora LV-UP2' && cells[3] === 'support.end_date'),
    JSON.stringify(rejected));
  assert.ok(rejected.some((cells) => cells[1] === 'line 4' && cells[3] === 'manufacturer.name'
    && /Kestrel Networks GmbH.*Lumora Vision Ltd/.test(cells[4])), JSON.stringify(rejected));
  // The verdict the new product would get, and nothing stored yet.
  await page.locator('ul.verdicts li[data-status]').first().waitFor();
  const verdicts = await page.locator('ul.verdicts li').allTextContents();
  assert.equal(verdicts.length, 1);
  assert.match(verdicts[0], /^(compliant|non-compliant|pending) 1 product$/);
  assert.equal((await api('/api/v1/products?q=LV-UP1&limit=5')).items.length, 0);
  await expectAccessible(page, 'the upload page with its dry-run report');

  await page.getByRole('button', { name: 'Submit for real' }).click();
  await page.getByRole('heading', { name: /^Imported lumora-upload\.csv \(import run \d+\)$/ }).waitFor();
  await page.getByRole('status').getByText(/^Imported lumora-upload\.csv as import run \d+: \d+ declarations? stored, 2 rejected\.$/).waitFor();
  const after = await api('/api/v1/products?q=LV-UP1&limit=5');
  assert.equal(after.items.length, 1);
  assert.equal(verdicts[0].split(' ')[0].replace('-', '_'), after.items[0].status);
  const audit = await api('/api/v1/audit?limit=1');
  assert.deepEqual([audit.items[0].action, audit.items[0].details.source], ['import', 'lumora-upload.csv']);

  // Dropping a file chooses it as the picker does.
  await page.evaluate(() => {
    const data = new DataTransfer();
    data.items.add(new File(['manufacturer.name\n'], 'dropped.yaml', { type: 'application/yaml' }));
    document.querySelector('.drop-zone').dispatchEvent(new DragEvent('drop', { dataTransfer: data, bubbles: true, cancelable: true }));
  });
  await page.getByText('Chosen: dropped.yaml').waitFor();
  await expectAccessible(page, 'the upload page after an import');

  await page.getByRole('button', { name: 'Sign out' }).click();
  await heading(page, 'Sign in');
});

// The views of the console an officer reaches, with the heading each shows.
function officerViews(raisedFlag) {
  return [
    ['#/search', 'Products', 'the product search'],
    ['#/search?q=orrin&status=non_compliant', 'Products', 'a filtered product search'],
    [`#/products/${raisedFlag.product_id}`, flagName(raisedFlag), 'a product page with a raised flag and its action form'],
    [`#/products/${shortened.id}`, 'Orrin OQ65-A7', 'a product page with versions to compare'],
    ['#/flags', 'Flag queue', 'the raised flags'],
    ['#/flags?queue=remedied', 'Flag queue', 'the remedy queue'],
    ['#/flags?queue=all&sort=-raised_at', 'Flag queue', 'every flag'],
    ['#/changes', 'What changed', 'what changed'],
    ['#/audit', 'Audit log', 'the audit log'],
    ['#/dashboard', 'Dashboard', 'the dashboard'],
    ['#/upload', 'Upload declarations', 'the upload page, which an officer may not use'],
    ['#/no-such-page', 'Page not found', 'an address that is no page'],
  ];
}

uiTest('accessibility gate: no WCAG 2.2 A/AA violation that axe-core finds, and no sideways scrolling at 320 px, on every page and dialog', async (page) => {
  // Signed out: the sign-in page, and its error.
  await state.context.clearCookies();
  await page.goto('about:blank');
  await page.goto(`${state.base}/#/search`);
  await heading(page, 'Sign in');
  await expectAccessible(page, 'the sign-in page');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(await alertText(page), /enter a token/);
  await expectAccessible(page, 'the sign-in page with its error');
  await page.getByLabel('API token').fill(state.token);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await heading(page, 'Products');

  const raised = (await api('/api/v1/flags?state=raised&limit=2')).items;
  assert.equal(raised.length, 2, 'expected two raised flags');
  for (const [hash, title, what] of officerViews(raised[0])) {
    await page.goto(`${state.base}/${hash}`);
    await heading(page, title);
    await page.locator('main[aria-busy="true"]').waitFor({ state: 'detached' });
    await expectAccessible(page, `${what} (${hash})`);
  }

  // The export menu, open.
  await page.goto(`${state.base}/#/search?class=camera`);
  await heading(page, 'Products');
  await page.getByText('Export', { exact: true }).click();
  await page.getByRole('link', { name: 'XLSX', exact: true }).waitFor();
  await expectAccessible(page, 'the export menu');

  // The action dialogs: on one flag, with the error of a missing reason, and on several.
  await page.goto(`${state.base}/#/flags`);
  await heading(page, 'Flag queue');
  await expectFlagQueue(page, 'raised');
  await page.getByRole('button', { name: `Confirm flag ${raised[0].id} (${flagName(raised[0])})` }).click();
  const single = page.getByRole('dialog', { name: `Confirm flag ${raised[0].id}` });
  await single.waitFor();
  await expectAccessible(page, 'the confirm dialog');
  await single.getByRole('button', { name: 'Confirm flag' }).click();
  assert.match(await alertText(page), /a reason is required/);
  await expectAccessible(page, 'the confirm dialog with its error');
  await page.keyboard.press('Escape');
  await single.waitFor({ state: 'detached' });
  for (const flag of raised) await page.getByRole('checkbox', { name: `Select flag ${flag.id} (${flagName(flag)})` }).check();
  await page.getByRole('button', { name: 'Dismiss selected' }).click();
  const several = page.getByRole('dialog', { name: 'Dismiss 2 flags' });
  await several.waitFor();
  await expectAccessible(page, 'the dialog of an action on two flags');
  await page.keyboard.press('Escape');
  await several.waitFor({ state: 'detached' });
  assert.deepEqual((await Promise.all(raised.map((flag) => apiFlag(flag.id)))).map((flag) => flag.state), ['raised', 'raised']);

  // The public pages: a product whose support-period address is long, one under a sale
  // prohibition, an unknown product, the lookup (its form, a list of products, a product not
  // registered, a mistyped number) and the accessibility statement, each under its own CSP.
  const orrin = await api(`/api/v1/products/${shortened.id}`);
  assert.ok(orrin.declaration.support.published_url.length > 60, 'expected a long support-period address');
  const prohibited = (await api('/api/v1/flags?state=confirmed&limit=1')).items[0];
  // A second manufacturer declares a brand and model that another does: a lookup lists both.
  const twin = path.join(state.tmp, 'twin.csv');
  fs.writeFileSync(twin, 'manufacturer.name,product.brand,product.model\nLumora Distribution UK Ltd,Lumora,LV-UP1\n');
  run(['--db', state.database.location, '--as-of', AS_OF, 'import', '--quiet', twin], { allow: [0, 1] });
  for (const [address, title, what] of [
    [`/public/products/${shortened.id}`, 'Orrin OQ65-A7', 'the public page of a product with a long support-period address'],
    [`/public/products/${prohibited.product_id}`, flagName(prohibited), 'the public page of a product whose sale is prohibited'],
    [REFUSED_PAGES.unknownProduct, 'Product not found', 'the public page of an unknown product'],
    ['/public/lookup', 'Look up a product', 'the lookup form'],
    ['/public/lookup?brand=Lumora&model=LV-UP1', 'Products found', 'a lookup that finds two products'],
    [REFUSED_PAGES.lookupNotRegistered, 'Not in the register', 'a lookup of a product not registered'],
    [REFUSED_PAGES.lookupMistyped, 'Check what you entered', 'a lookup of a mistyped number'],
    ['/accessibility', /^Accessibility statement for /, 'the accessibility statement']]) {
    const response = await page.goto(`${state.base}${address}`);
    assert.match(response.headers()['content-security-policy'], /^default-src 'none'/);
    await page.getByRole('heading', { level: 1, name: title }).waitFor();
    await expectAccessible(page, `${what} (${address})`);
  }
  // The label at its own address: axe-core only. It is an image of its printed size, which
  // WCAG 1.4.10 exempts from reflow; the product page shows it scaled to the window.
  await page.goto(`${state.base}/public/products/${shortened.id}/label.svg`);
  await expectNoAxeViolations(page, 'the label');
});

// Presses Tab (Shift+Tab with back) until `reached` (run in the page) holds for the focused
// element, checking a visible focus indicator at every stop; fails after `limit` presses.
async function tabUntil(page, reached, what, { back = false, limit = 80, arg } = {}) {
  for (let presses = 1; presses <= limit; presses += 1) {
    await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
    await expectVisibleFocus(page, `${what}: stop ${presses}`);
    if (await page.evaluate(reached, arg)) return;
  }
  assert.fail(`${what}: not reached within ${limit} presses of ${back ? 'Shift+Tab' : 'Tab'}`);
}

const focusedName = (page) => page.evaluate(() => document.activeElement?.getAttribute('aria-label') ?? document.activeElement?.textContent);

uiTest('the keyboard alone: skip link, sign-in, search, product, flag queue and the confirm dialog, focus visible at every stop', async (page) => {
  await state.context.clearCookies();
  await page.goto('about:blank');
  await page.goto(`${state.base}/#/search`);
  await heading(page, 'Sign in');
  await expectVisibleFocus(page, 'the token field on arrival');

  // The skip link is the stop before it, the first of the page; it focuses <main> and keeps the
  // page and its address.
  await page.keyboard.press('Shift+Tab');
  assert.equal(await focusedName(page), 'Skip to content');
  await expectVisibleFocus(page, 'the skip link');
  await page.keyboard.press('Enter');
  assert.equal(await page.evaluate(() => document.activeElement?.id), 'main', 'the skip link did not focus <main>');
  assert.match(page.url(), /\/#\/search$/);
  await heading(page, 'Sign in');
  assert.equal(await page.getByRole('heading', { name: 'Page not found' }).count(), 0);

  // Sign in.
  await page.keyboard.press('Tab');
  await expectVisibleFocus(page, 'the token field');
  assert.equal(await page.evaluate(() => document.activeElement?.name), 'token');
  await page.keyboard.type(state.token);
  await page.keyboard.press('Tab');
  assert.equal(await focusedName(page), 'Sign in');
  await expectVisibleFocus(page, 'the sign-in button');
  await page.keyboard.press('Enter');
  await heading(page, 'Products');
  // The heading the console focuses (tabindex="-1") shows the focus ring.
  await eventually(async () => assert.equal(await page.evaluate(() => document.activeElement?.tagName), 'H1'));
  await expectVisibleFocus(page, 'the heading of the search page');

  // Search.
  await page.keyboard.press('Tab');
  assert.equal(await page.evaluate(() => document.activeElement?.name), 'q');
  await expectVisibleFocus(page, 'the search field');
  await page.keyboard.type('OQ65');
  await page.keyboard.press('Enter');
  await eventually(async () => assert.match(page.url(), /#\/search\?q=OQ65$/));
  await page.getByRole('link', { name: 'Orrin OQ65-A7' }).waitFor();
  await tabUntil(page, () => document.activeElement?.textContent === 'Orrin OQ65-A7', 'from the search page to the product');
  await page.keyboard.press('Enter');
  await heading(page, 'Orrin OQ65-A7');
  await expectVisibleFocus(page, 'the heading of the product page');

  // Back up to the main menu, and on to the flag queue.
  await tabUntil(page, () => document.activeElement?.textContent === 'Flag queue', 'from the product page to the menu', { back: true });
  await page.keyboard.press('Enter');
  await heading(page, 'Flag queue');
  await expectVisibleFocus(page, 'the heading of the flag queue');
  const [flag] = (await expectFlagQueue(page, 'raised')).items;
  const opener = `Confirm flag ${flag.id} (${flagName(flag)})`;
  await tabUntil(page, (label) => document.activeElement?.getAttribute('aria-label') === label,
    'from the flag queue to a flag\'s Confirm button', { arg: opener });

  // The dialog: opened on the reason; Tab and Shift+Tab cycle inside it, never onto the page
  // behind or the document body; Escape closes it and gives focus back to its button.
  await page.keyboard.press('Enter');
  const dialog = page.getByRole('dialog', { name: `Confirm flag ${flag.id}` });
  await dialog.waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.name), 'reason');
  const stops = await dialog.evaluate((element) => [...element.querySelectorAll('textarea, input, button')].length);
  for (const key of ['Tab', 'Shift+Tab']) {
    const seen = [];
    for (let press = 1; press <= 2 * stops + 1; press += 1) {
      await page.keyboard.press(key);
      const focus = await expectVisibleFocus(page, `${key} ${press} in the dialog`);
      assert.equal(focus.inDialog, true, `${key} ${press} in the dialog left it for ${focus.element}`);
      seen.push(focus.element);
    }
    assert.equal(new Set(seen).size, stops, `${key} does not cycle through the dialog's ${stops} controls: ${seen.join(', ')}`);
  }
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });
  assert.equal(await focusedName(page), opener);
  await expectVisibleFocus(page, 'the Confirm button after the dialog closed');
  assert.equal((await apiFlag(flag.id)).state, 'raised');

  // A fragment that is no route names a part of the page, not a missing page: followed from the
  // flag queue, it focuses that part and keeps the queue and its address; loaded, it is the start.
  // (Set again on each try: the queue may still re-render, taking the focus, after the dialog.)
  await eventually(async () => {
    await page.evaluate(() => { location.hash = '#main'; });
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'main');
  });
  assert.match(page.url(), /\/#\/flags$/);
  await heading(page, 'Flag queue');
  await page.goto('about:blank');
  await page.goto(`${state.base}/#main`);
  await heading(page, 'Products');

  // The lookup form's fields and buttons, the public page of a product, its links to the end of
  // the page, and on to the statement.
  await page.goto(`${state.base}/public/lookup`);
  await page.getByRole('heading', { level: 1, name: 'Look up a product' }).waitFor();
  await tabUntil(page, () => document.activeElement?.textContent === 'Accessibility statement', 'the lookup form', { limit: 20 });
  await page.goto(`${state.base}/public/products/${shortened.id}`);
  await page.getByRole('heading', { level: 1, name: 'Orrin OQ65-A7' }).waitFor();
  await tabUntil(page, () => document.activeElement?.textContent === 'Accessibility statement', 'the links of the public page', { limit: 20 });
  await page.keyboard.press('Enter');
  await page.getByRole('heading', { level: 1, name: /^Accessibility statement for / }).waitFor();
  await tabUntil(page, () => document.activeElement?.textContent === 'Accessibility statement', 'the links of the statement', { limit: 20 });
});

test('the focus ring contrasts at least 3:1 with white, the page background and the header', async () => {
  const css = fs.readFileSync(path.join(sourceDir, 'registry', 'http', 'web', 'app.css'), 'utf8');
  const variable = (name) => {
    const match = new RegExp(`--${name}:\\s*(#[0-9a-fA-F]{6})`).exec(css);
    assert.ok(match, `app.css defines no --${name}`);
    return parseHexColour(match[1]);
  };
  assert.match(css, /\.app-header \{[^}]*background: var\(--header\)/, 'the header has a background of its own');
  for (const [ring, backgrounds] of [
    ['focus', [['white', [255, 255, 255]], ['the paper', variable('paper')], ['the canvas', variable('canvas')]]],
    ['focus-on-dark', [['the header', variable('header')]]]]) {
    for (const [what, rgb] of backgrounds) {
      const ratio = contrastRatio(variable(ring), rgb);
      assert.ok(ratio >= 3, `--${ring} contrasts ${ratio.toFixed(2)}:1 with ${what}`);
    }
  }
  // Nothing switches the ring off for the headings, rows and cells the console focuses itself
  // (only <main>, the skip link's target, has none).
  for (const rule of css.replace(/\/\*[\s\S]*?\*\//g, '').match(/[^{}]*:focus[^{]*\{[^}]*\}/g) ?? []) {
    if (/outline:\s*(none|0)/.test(rule)) assert.match(rule.trim(), /^main:focus \{/, `a rule switches the focus ring off: ${rule.trim()}`);
  }
});

test('the page raised no script error and broke no Content-Security-Policy rule', () => {
  assert.deepEqual(state.pageErrors, []);
});
