// The iotreg officer console: a single-page UI over the HTTP API (/api/v1), served by the iotreg
// process itself. Plain ES module, no dependencies. All text that comes from the server or the
// user is put into the page through textContent / text nodes, never parsed as HTML, and no style
// is set inline (the page runs under Content-Security-Policy default-src 'self').

const STATUSES = ['pending', 'compliant', 'non_compliant', 'excepted', 'check_error'];
const FLAG_STATES = ['raised', 'withdrawn', 'confirmed', 'dismissed', 'lifted'];
const PAGE_SIZE = 50;
const SVG_NS = 'http://www.w3.org/2000/svg';

// ---------------------------------------------------------------------------------------------
// DOM helpers

// Builds an element. props: class, text, dataset, on<event> listeners, properties and attributes.
// Children are nodes or strings (strings become text nodes).
function h(tag, props, ...children) {
  const element = document.createElement(tag);
  let value;
  for (const [key, prop] of Object.entries(props ?? {})) {
    if (prop === undefined || prop === null || prop === false) continue;
    if (key === 'class') element.className = prop;
    else if (key === 'text') element.textContent = String(prop);
    else if (key === 'dataset') Object.assign(element.dataset, prop);
    else if (key === 'value') value = prop;
    else if (key.startsWith('on') && typeof prop === 'function') {
      element.addEventListener(key.slice(2), prop);
    } else element.setAttribute(key, prop === true ? '' : String(prop));
  }
  append(element, children);
  if (value !== undefined) element.value = value;
  return element;
}

// Builds an SVG element; attributes only.
function svg(tag, attributes, ...children) {
  const element = document.createElementNS(SVG_NS, tag);
  for (const [key, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null) continue;
    if (key === 'text') element.textContent = String(value);
    else element.setAttribute(key, String(value));
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    parent.append(child instanceof Node ? child : String(child));
  }
}

let idCounter = 0;
function uid(prefix) {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

// A labelled form control: <div class="field"><label>..</label><control></div>.
// A hint is shown under the control, or only to assistive technology when hideHint is set.
function field(labelText, control, hint, hideHint = false) {
  if (!control.id) control.id = uid('field');
  const parts = [h('label', { for: control.id, text: labelText }), control];
  if (hint) {
    const hintId = uid('hint');
    control.setAttribute('aria-describedby', hintId);
    parts.push(h('p', { class: hideHint ? 'visually-hidden' : 'hint', id: hintId, text: hint }));
  }
  return h('div', { class: 'field' }, parts);
}

function select(name, options, selected) {
  return h('select', { name, value: selected ?? '' },
    options.map(([value, label]) => h('option', { value, text: label })));
}

function table(caption, headers, rows, className) {
  return tableBox(h('table', { class: className ?? '' },
    h('caption', { text: caption }),
    h('thead', null, h('tr', null, headers.map((header) => h('th', { scope: 'col', text: header })))),
    h('tbody', null, rows)));
}

// A table in a box that scrolls sideways when the table is wider than the screen, which WCAG
// 1.4.10 allows for data tables. While it scrolls, the box is a region named by the table's
// caption that the keyboard can focus and scroll (2.1.1); otherwise it is no stop of its own.
function tableBox(tableElement) {
  const box = h('div', { class: 'table-wrap' }, tableElement);
  const caption = tableElement.querySelector('caption');
  if (caption && !caption.id) caption.id = uid('caption');
  tableOverflow?.observe(box);
  tableOverflow?.observe(tableElement);
  return box;
}

const tableOverflow = typeof ResizeObserver === 'function'
  ? new ResizeObserver((entries) => {
    for (const entry of entries) markScrolling(entry.target.closest('.table-wrap'));
  })
  : null;

function markScrolling(box) {
  if (!box) return;
  const scrolls = box.scrollWidth > box.clientWidth + 1;
  if (scrolls === box.hasAttribute('tabindex')) return;
  if (scrolls) {
    box.setAttribute('tabindex', '0');
    box.setAttribute('role', 'region');
    const caption = box.querySelector('caption');
    if (caption) box.setAttribute('aria-labelledby', caption.id);
  } else {
    for (const name of ['tabindex', 'role', 'aria-labelledby']) box.removeAttribute(name);
  }
}

function cell(...children) {
  return h('td', null, ...children);
}

function humanStatus(status) {
  return String(status ?? '').replaceAll('_', ' ').replace('non compliant', 'non-compliant');
}

function statusBadge(status) {
  return h('span', { class: `badge status-${cssToken(status)}`, dataset: { status: status ?? '' } },
    humanStatus(status));
}

function stateBadge(state) {
  return h('span', { class: `badge state-${cssToken(state)}`, dataset: { state: state ?? '' } },
    state ?? '');
}

// A confirmed flag whose product has since become compliant: waiting for an officer to lift it.
function remediedBadge() {
  return h('span', { class: 'badge state-remedied', text: 'remedied' });
}

// What each flag action is called, and which states allow it (DESIGN.md §3).
// The order is that of the buttons: the usual next step of a state comes first.
const FLAG_ACTIONS = {
  confirm: { label: 'Confirm', done: 'confirmed', from: ['raised'] },
  lift: { label: 'Lift', done: 'lifted', from: ['confirmed'] },
  dismiss: { label: 'Dismiss', done: 'dismissed', from: ['raised', 'confirmed'] },
};
const actionsFor = (state) => Object.keys(FLAG_ACTIONS).filter((action) => FLAG_ACTIONS[action].from.includes(state));

function outcomeBadge(outcome) {
  return h('span', { class: `badge outcome-${cssToken(outcome)}` }, String(outcome ?? '').replace('_', ' '));
}

function cssToken(text) {
  return String(text ?? '').toLowerCase().replace(/[^a-z0-9_-]/g, '');
}

function formatTime(iso) {
  if (!iso) return '';
  return h('time', { datetime: iso }, String(iso).replace('T', ' ').replace(/Z$/, ' UTC'));
}

// A declaration value as text: lists as their items separated by " | " (as in the CSV format).
function formatValue(value) {
  if (value === undefined) return '';
  if (value === null) return 'null';
  if (Array.isArray(value)) {
    return value.map((item) => (typeof item === 'object' && item !== null ? JSON.stringify(item) : String(item))).join(' | ');
  }
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

function productName(product) {
  return [product.brand, product.model].filter(Boolean).join(' ');
}

function productLink(id, text) {
  return h('a', { href: `#/products/${id}` }, text);
}

// ---------------------------------------------------------------------------------------------
// Messages: errors in the role="alert" region, confirmations in the role="status" region.

const alertRegion = () => document.getElementById('alert');
const noticeRegion = () => document.getElementById('notice');

// Errors go to the open modal dialog's own alert region if there is one (the rest of the page is
// inert then), else to the page's.
function showError(error, what) {
  const region = document.querySelector('dialog[open] .dialog-alert') ?? alertRegion();
  const parts = [];
  if (what) parts.push(h('strong', null, `${what}: `));
  parts.push(h('span', { class: 'alert-message' }, error?.message ?? String(error)));
  if (error instanceof ApiError && error.status) {
    parts.push(' ', h('span', { class: 'alert-code' }, `(${error.status} ${error.code})`));
  }
  region.replaceChildren(...parts);
  region.hidden = false;
}

function clearError() {
  for (const region of [alertRegion(), ...document.querySelectorAll('.dialog-alert')]) {
    region.replaceChildren();
    region.hidden = true;
  }
}

function notify(text) {
  noticeRegion().textContent = text;
}

// ---------------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// Who is signed in. The session itself is an HttpOnly cookie that scripts never see: the browser
// sends it with every request to this origin.
const session = { me: null };

// X-Requested-With marks requests as this page's own: the server refuses a state-changing request
// signed in by the cookie without it (another site's page cannot send it).
async function api(path, { method = 'GET', body, rawBody, contentType } = {}) {
  const headers = { Accept: 'application/json', 'X-Requested-With': 'iotreg' };
  const init = { method, headers, cache: 'no-store', credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  } else if (rawBody !== undefined) {
    if (contentType) headers['Content-Type'] = contentType;
    init.body = rawBody;
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    throw new ApiError(0, 'network', `the server could not be reached (${error.message})`);
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
      if (response.ok) throw new ApiError(response.status, 'bad_reply', 'the server replied with something that is not JSON');
    }
  }
  if (!response.ok) {
    const envelope = data && typeof data === 'object' ? data.error : null;
    const error = new ApiError(envelope?.status ?? response.status,
      envelope?.code ?? `http_${response.status}`,
      envelope?.message ?? (response.statusText || 'request failed'));
    error.envelope = envelope;
    if (error.status === 401 && session.me) expireSession(error);
    throw error;
  }
  return data;
}

function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}

const can = {
  actOnFlags: () => session.me?.role === 'officer',
  readAudit: () => session.me?.role === 'officer' || session.me?.role === 'admin',
  upload: () => session.me?.role === 'manufacturer' || session.me?.role === 'admin',
};

// ---------------------------------------------------------------------------------------------
// Session

function showSessionChrome() {
  const signedIn = Boolean(session.me);
  document.getElementById('nav').hidden = !signedIn;
  document.getElementById('session').hidden = !signedIn;
  if (signedIn) {
    const me = session.me;
    const who = [`Signed in as ${me.role}`];
    if (me.manufacturer) who.push(`for ${me.manufacturer}`);
    if (me.token_id !== undefined && me.token_id !== null) who.push(`(token ${me.token_id})`);
    document.getElementById('session-who').textContent = who.join(' ');
    for (const link of document.querySelectorAll('#nav [data-needs="audit"]')) {
      link.parentElement.hidden = !can.readAudit();
    }
    for (const link of document.querySelectorAll('#nav [data-needs="upload"]')) {
      link.parentElement.hidden = !can.upload();
    }
  }
}

// Ends the session on the server (so its cookie is worthless even if copied), then here.
async function signOut() {
  clearError();
  try {
    await api('/api/v1/session', { method: 'DELETE' });
  } catch (error) {
    if (error.status !== 401) {
      showError(error, 'Sign-out failed');
      return;
    }
  }
  session.me = null;
  showSessionChrome();
  route();
  notify('Signed out.');
}

// A 401 on a signed-in request: the token was revoked or expired. Back to the sign-in form,
// saying why.
function expireSession(error) {
  session.me = null;
  showSessionChrome();
  route();
  showError(error, 'You were signed out');
}

function renderSignIn(view) {
  document.title = 'Sign in – iotreg';
  const tokenInput = h('input', {
    type: 'password', name: 'token', autocomplete: 'off', spellcheck: 'false', required: true,
  });
  const submit = h('button', { type: 'submit', text: 'Sign in' });
  const form = h('form', { class: 'sign-in', 'aria-labelledby': 'sign-in-heading', novalidate: true },
    field('API token', tokenInput, 'Your bearer token (iotreg_…). It is exchanged for a session that ends when you sign out or after a while unused; the token itself is not kept.'),
    h('div', { class: 'actions' }, submit));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearError();
    const token = tokenInput.value.trim();
    if (!token) {
      showError(new Error('enter a token'), 'Sign-in failed');
      tokenInput.focus();
      return;
    }
    submit.disabled = true;
    try {
      await api('/api/v1/session', { method: 'POST', body: { token } });
      tokenInput.value = '';
      session.me = await api('/api/v1/me');
      showSessionChrome();
      route();
    } catch (error) {
      showError(error, 'Sign-in failed');
      submit.disabled = false;
      tokenInput.select();
      tokenInput.focus();
    }
  });
  view.append(
    h('h1', { id: 'sign-in-heading', tabindex: '-1', text: 'Sign in' }),
    h('p', null, 'Sign in with an API token to search registered products, review their declarations and act on sale-prohibition flags.'),
    form);
  return tokenInput;
}

// ---------------------------------------------------------------------------------------------
// Routing: #/search, #/products/ID, #/flags, #/changes, #/audit, #/dashboard (each with an
// optional ?query).

let generation = 0;

// Routes are the fragments that start with "#/"; any other fragment ("#main" of the skip link)
// names an element of the page, not a page.
const isRouteHash = (hash) => hash.startsWith('#/');

function parseHash() {
  const raw = isRouteHash(location.hash) ? location.hash.slice(1) : '/search';
  const mark = raw.indexOf('?');
  const path = mark < 0 ? raw : raw.slice(0, mark);
  const params = new URLSearchParams(mark < 0 ? '' : raw.slice(mark + 1));
  return { path, params };
}

const routes = [
  { pattern: /^\/search\/?$/, nav: 'search', render: renderSearch },
  { pattern: /^\/products\/(\d+)\/?$/, nav: 'search', render: renderProduct },
  { pattern: /^\/flags\/?$/, nav: 'flags', render: renderFlags },
  { pattern: /^\/changes\/?$/, nav: 'changes', render: renderChanges },
  { pattern: /^\/audit\/?$/, nav: 'audit', render: renderAudit },
  { pattern: /^\/dashboard\/?$/, nav: 'dashboard', render: renderDashboard },
  { pattern: /^\/upload\/?$/, nav: 'upload', render: renderUpload },
];

function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

// The address of the page shown, put back when an in-page link changed the fragment.
let routedHash = '';

// An in-page link ("#main") moves focus to its target and leaves the page and its address as they
// were; any other change of the fragment shows the page it names.
function onHashChange() {
  if (location.hash && !isRouteHash(location.hash)) {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    history.replaceState(history.state, '', `${location.pathname}${location.search}${routedHash}`);
    target?.focus();
    return;
  }
  route();
}

// The skip link focuses <main> (tabindex="-1") without touching the address.
function skipToContent(event) {
  event.preventDefault();
  const main = document.getElementById('main');
  main.focus();
  main.scrollIntoView({ block: 'start' });
}

function route() {
  routedHash = isRouteHash(location.hash) ? location.hash : '';
  generation += 1;
  const current = generation;
  const alive = () => current === generation;
  clearError();
  notify('');
  const main = document.getElementById('main');
  const view = h('div', { class: 'view' });
  main.replaceChildren(view);
  main.removeAttribute('aria-busy');

  if (!session.me) {
    renderSignIn(view).focus();
    return;
  }

  const { path, params } = parseHash();
  let match = null;
  let entry = null;
  for (const candidate of routes) {
    match = candidate.pattern.exec(path);
    if (match) {
      entry = candidate;
      break;
    }
  }
  for (const link of document.querySelectorAll('#nav a')) {
    if (entry && link.dataset.route === entry.nav) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (!entry) {
    document.title = 'Not found – iotreg';
    view.append(h('h1', { tabindex: '-1', text: 'Page not found' }),
      h('p', null, 'There is no page at this address. ', h('a', { href: '#/search' }, 'Search products'), '.'));
    focusHeading(view);
    return;
  }
  const context = { view, params, match, alive, main };
  main.setAttribute('aria-busy', 'true');
  Promise.resolve(entry.render(context))
    .catch((error) => {
      if (alive()) showError(error, 'Could not load this page');
    })
    .finally(() => {
      if (alive()) main.removeAttribute('aria-busy');
    });
  focusHeading(view);
}

function focusHeading(view) {
  const heading = view.querySelector('h1');
  if (heading) heading.focus({ preventScroll: false });
}

// A "Loading…" paragraph replaced by the real content once it is there.
function placeholder(text = 'Loading…') {
  return h('p', { class: 'loading', text });
}

// "12 flags", or "50+ flags" when more pages follow.
function countText(count, hasMore, [one, many]) {
  return `${count}${hasMore ? '+' : ''} ${count === 1 && !hasMore ? one : many}`;
}

// A keyset-paged list of the API ({items, next_cursor}) shown as the rows of a table body:
// reload() shows the first page, the `more` button appends the next one and moves focus to its
// first row. fetchPage(cursor) answers one page (cursor null for the first), row(item) builds its
// <tr>, onPage({reply, first, count, hasMore}) runs after each page is shown. An answer that
// arrives after the view was left (alive() false) is dropped.
function pagedRows({ tbody, more, fetchPage, row, emptyText, failure, alive, onPage }) {
  let cursor = null;
  let count = 0;
  const load = async (first) => {
    const reply = await fetchPage(first ? null : cursor);
    if (!alive()) return [];
    const rows = (reply.items ?? []).map(row);
    if (first) {
      count = 0;
      tbody.replaceChildren(...rows);
      if (!rows.length) tbody.append(emptyRow(tbody, emptyText));
    } else {
      tbody.append(...rows);
    }
    count += rows.length;
    cursor = reply.next_cursor ?? null;
    more.hidden = !cursor;
    onPage?.({ reply, first, count, hasMore: Boolean(cursor) });
    return rows;
  };
  more.addEventListener('click', async () => {
    clearError();
    more.disabled = true;
    try {
      const rows = await load(false);
      if (rows.length) focusRow(rows[0]);
    } catch (error) {
      showError(error, failure);
    } finally {
      more.disabled = false;
    }
  });
  return { reload: () => load(true) };
}

// One cell spanning the whole table, saying why there are no rows.
function emptyRow(tbody, text) {
  const columns = tbody.closest('table')?.tHead?.rows[0]?.cells.length ?? 1;
  return h('tr', null, h('td', { colspan: String(columns), class: 'empty', text }));
}

// Moves focus into a row: to its first link, else to its first cell.
function focusRow(row) {
  const link = row.querySelector('a');
  if (link) {
    link.focus();
    return;
  }
  const first = row.querySelector('td');
  first?.setAttribute('tabindex', '-1');
  first?.focus();
}

// ---------------------------------------------------------------------------------------------
// Search

// The product filters of GET /api/v1/products and /api/v1/export, as the search page's URL
// (#/search?...) carries them, so that every search can be linked to.
const PRODUCT_FILTERS = ['q', 'status', 'flagged', 'flag_state', 'remedied', 'manufacturer', 'type',
  'class', 'failing', 'support_ends_before', 'support_ends_after', 'changed_since'];

// The facets of a product list: the reply member, its heading and the filter a value sets.
const FACETS = [
  { name: 'status', title: 'By status', filter: 'status' },
  { name: 'class', title: 'By product class', filter: 'class' },
  { name: 'failing_check', title: 'By failing check', filter: 'failing' },
  { name: 'flag_state', title: 'By flag state', filter: 'flag_state' },
  { name: 'type', title: 'By type', filter: 'type' },
];
// Values a facet lists before its "Show all" button.
const FACET_TOP = 5;

// GET /api/v1/checks, once per page load: the check picker and the findings' descriptions.
let checksReply = null;
function loadChecks() {
  checksReply ??= api('/api/v1/checks').catch((error) => {
    checksReply = null;
    throw error;
  });
  return checksReply;
}

function searchHash(filters) {
  return `#/search${query(Object.fromEntries(PRODUCT_FILTERS.map((name) => [name, filters[name]])))}`;
}

function renderSearch({ view, params, alive }) {
  document.title = 'Products – iotreg';
  const filters = Object.fromEntries(PRODUCT_FILTERS.map((name) => [name, params.get(name) ?? '']));

  const typeList = h('datalist', { id: uid('types') });
  const classList = h('datalist', { id: uid('classes') });
  const inputs = {
    q: h('input', { type: 'search', name: 'q', value: filters.q, autocomplete: 'off', placeholder: 'brand, model, type or manufacturer' }),
    manufacturer: h('input', { type: 'text', name: 'manufacturer', value: filters.manufacturer, autocomplete: 'off' }),
    type: h('input', { type: 'text', name: 'type', value: filters.type, list: typeList.id, autocomplete: 'off' }),
    class: h('input', { type: 'text', name: 'class', value: filters.class, list: classList.id, autocomplete: 'off' }),
    status: select('status', [['', 'Any status'], ...STATUSES.map((s) => [s, humanStatus(s)])], filters.status),
    flagged: select('flagged', [['', 'Flagged or not'], ['true', 'Flagged'], ['false', 'Not flagged']], filters.flagged),
    flag_state: select('flag_state', [['', 'Any flag state'], ...FLAG_STATES.map((state) => [state, state])], filters.flag_state),
    remedied: select('remedied', [['', 'Remedied or not'], ['true', 'Remedied'], ['false', 'Not remedied']], filters.remedied),
    failing: select('failing', [['', 'Any check'], ...(filters.failing ? [[filters.failing, filters.failing]] : [])], filters.failing),
    support_ends_after: h('input', { type: 'date', name: 'support_ends_after', value: filters.support_ends_after }),
    support_ends_before: h('input', { type: 'date', name: 'support_ends_before', value: filters.support_ends_before }),
    changed_since: h('input', { type: 'date', name: 'changed_since', value: filters.changed_since }),
  };
  loadChecks().then((reply) => {
    if (!alive()) return;
    const picker = inputs.failing;
    picker.replaceChildren(h('option', { value: '', text: 'Any check' }),
      ...(reply.items ?? []).map((check) => h('option', { value: check.id, text: check.title ? `${check.id}: ${check.title}` : check.id })));
    picker.value = filters.failing;
  }).catch(() => {});

  const form = h('form', { role: 'search', 'aria-label': 'Product search', class: 'filters' },
    field('Search text', inputs.q, 'Every word must match the start of a word of the brand, model, type or manufacturer.', true),
    field('Manufacturer', inputs.manufacturer, 'Part of the name, in any case.', true),
    field('Type', inputs.type),
    field('Product class', inputs.class),
    field('Status', inputs.status),
    field('Failing check', inputs.failing),
    field('Flag', inputs.flagged),
    field('Flag state', inputs.flag_state),
    field('Remedied', inputs.remedied),
    field('Support ends after', inputs.support_ends_after),
    field('Support ends before', inputs.support_ends_before),
    field('Changed since', inputs.changed_since, 'Declared again, or status or flag changed, on or after this day (UTC).', true),
    typeList, classList,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', text: 'Search' }),
      h('button', { type: 'button', class: 'secondary', text: 'Clear filters', onclick: () => navigate('#/search') })));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(searchHash(Object.fromEntries(PRODUCT_FILTERS.map((name) => [name, inputs[name].value.trim()]))));
  });

  const summary = h('p', { class: 'summary', id: 'result-summary' }, 'Searching…');
  const facetsBox = h('div', { class: 'facets' });
  const tbody = h('tbody');
  const resultsTable = tableBox(
    h('table', { class: 'results stacked', 'aria-describedby': 'result-summary' },
      h('caption', { text: 'Products' }),
      h('thead', null, h('tr', null,
        PRODUCT_COLUMNS.map((header) => h('th', { scope: 'col', text: header })))),
      tbody));
  const more = h('button', { type: 'button', class: 'more', text: 'More results', hidden: true });
  const shown = h('p', { class: 'shown', 'aria-live': 'polite' });

  view.append(
    h('h1', { tabindex: '-1', text: 'Products' }),
    form,
    h('div', { class: 'search-layout' },
      h('aside', { class: 'facet-panel', 'aria-label': 'Refine by' }, facetsBox),
      h('section', { class: 'results-panel', 'aria-labelledby': 'results-heading' },
        h('div', { class: 'results-head' },
          h('h2', { id: 'results-heading', text: 'Results' }),
          exportMenu(filters)),
        summary, resultsTable, shown, more)));

  const list = pagedRows({
    tbody,
    more,
    alive,
    fetchPage: (cursor) => api(`/api/v1/products${query({ ...filters, limit: PAGE_SIZE, cursor })}`),
    row: productRow,
    emptyText: 'No product matches these filters.',
    failure: 'Could not load more products',
    onPage: ({ reply, first, count, hasMore }) => {
      if (first) {
        if (reply.facets) renderFacets(facetsBox, reply.facets, filters);
        for (const [facet, list] of [['type', typeList], ['class', classList]]) {
          for (const value of Object.keys(reply.facets?.[facet] ?? {}).sort()) {
            if (value) list.append(h('option', { value }));
          }
        }
        const total = reply.facets?.status ? Object.values(reply.facets.status).reduce((a, b) => a + b, 0) : null;
        summary.textContent = total === null
          ? `${count} products`
          : `${total} ${total === 1 ? 'product matches' : 'products match'}${describeFilters(filters)}.`;
      }
      shown.textContent = count ? `Showing ${count}${hasMore ? '' : ' (all)'}.` : '';
    },
  });
  return list.reload().catch((error) => {
    summary.textContent = 'The search failed.';
    throw error;
  });
}

// The Export menu: links to GET /api/v1/export with the search's filters. The session cookie
// authenticates them, so the browser streams each download to a file itself.
function exportMenu(filters) {
  const formats = [
    ['CSV', { format: 'csv' }, 'products.csv'],
    ['CSV for Excel', { format: 'csv', bom: 'true' }, 'products.csv'],
    ['NDJSON', { format: 'ndjson' }, 'products.ndjson'],
    ['XLSX', { format: 'xlsx' }, 'products.xlsx'],
  ];
  const scoped = Object.fromEntries(PRODUCT_FILTERS.map((name) => [name, filters[name]]));
  return h('details', { class: 'export-menu' },
    h('summary', { text: 'Export' }),
    h('ul', null, formats.map(([label, format, file]) => h('li', null,
      h('a', { href: `/api/v1/export${query({ ...scoped, ...format })}`, download: file, dataset: { format: label } }, label)))));
}

const PRODUCT_COLUMNS = ['ID', 'Product', 'Manufacturer', 'Type', 'Status', 'Flag', 'Versions', 'Updated'];

// A cell with the name of its column, which a phone's stacked layout shows before the value.
function labelledCell(column, ...children) {
  return h('td', { 'data-label': column }, ...children);
}

function productRow(product) {
  const [id, name, manufacturer, type, status, flag, versions, updated] = PRODUCT_COLUMNS;
  return h('tr', { dataset: { productId: product.id } },
    labelledCell(id, String(product.id)),
    labelledCell(name, productLink(product.id, productName(product) || `Product ${product.id}`)),
    labelledCell(manufacturer, product.manufacturer ?? ''),
    labelledCell(type, product.type ?? ''),
    labelledCell(status, statusBadge(product.status)),
    labelledCell(flag, product.flagged ? h('span', { class: 'badge flagged', text: 'flagged' }) : h('span', { class: 'muted', text: 'no' })),
    labelledCell(versions, String(product.version_count ?? '')),
    labelledCell(updated, formatTime(product.updated_at)));
}

function describeFilters(filters) {
  const parts = [];
  if (filters.q) parts.push(`“${filters.q}”`);
  if (filters.manufacturer) parts.push(`manufacturer ${filters.manufacturer}`);
  if (filters.type) parts.push(`type ${filters.type}`);
  if (filters.class) parts.push(`class ${filters.class}`);
  if (filters.status) parts.push(`status ${humanStatus(filters.status)}`);
  if (filters.failing) parts.push(`failing ${filters.failing}`);
  if (filters.flagged) parts.push(filters.flagged === 'true' ? 'flagged' : 'not flagged');
  if (filters.flag_state) parts.push(`flag ${filters.flag_state}`);
  if (filters.remedied) parts.push(filters.remedied === 'true' ? 'remedied' : 'not remedied');
  if (filters.support_ends_after) parts.push(`support ends after ${filters.support_ends_after}`);
  if (filters.support_ends_before) parts.push(`support ends before ${filters.support_ends_before}`);
  if (filters.changed_since) parts.push(`changed since ${filters.changed_since}`);
  return parts.length ? ` (${parts.join(', ')})` : '';
}

// The facets the reply has. Each lists its values with their counts, the most first (statuses in
// their own order): the top ones, then a "Show all" button. A value's counts are computed without
// its own facet's filter, so choosing one keeps the others listed.
function renderFacets(box, facets, filters) {
  const group = ({ name, title, filter }) => {
    const counts = facets[name];
    const keys = Object.keys(counts);
    keys.sort(name === 'status'
      ? (a, b) => rank(STATUSES, a) - rank(STATUSES, b) || a.localeCompare(b)
      : (a, b) => (counts[b] - counts[a]) || a.localeCompare(b));
    const headingId = uid('facet');
    const listId = uid('facet-list');
    const items = keys.map((key, index) => {
      const active = filters[filter] === key;
      const label = name === 'status' ? humanStatus(key) : key || `(no ${name === 'class' ? 'class' : 'type'})`;
      const next = { ...filters, [filter]: active ? '' : key };
      const button = h('button', {
        type: 'button', class: 'facet', 'aria-pressed': active ? 'true' : 'false',
        dataset: { facet: name, value: key, count: String(counts[key]) },
        disabled: !key ? true : undefined,
        onclick: () => navigate(searchHash(next)),
      }, h('span', { class: 'facet-label', text: label }), ' ', h('span', { class: 'count', text: String(counts[key]) }));
      return h('li', { hidden: index >= FACET_TOP && !active ? true : undefined }, button);
    });
    const hiddenCount = items.filter((item) => item.hidden).length;
    const showAll = hiddenCount ? h('button', {
      type: 'button', class: 'secondary small show-all', 'aria-controls': listId,
      text: `Show all ${keys.length}`,
      onclick: () => {
        for (const item of items) item.hidden = false;
        showAll.remove();
        items[FACET_TOP]?.querySelector('button')?.focus();
      },
    }) : null;
    return h('section', { class: 'facet-group', 'aria-labelledby': headingId, dataset: { facetGroup: name } },
      h('h2', { id: headingId, text: title }),
      items.length ? h('ul', { id: listId }, items) : h('p', { class: 'muted', text: 'None' }),
      showAll);
  };
  box.replaceChildren(...FACETS.filter(({ name }) => facets[name]).map(group));
}

function rank(list, value) {
  const index = list.indexOf(value);
  return index < 0 ? list.length : index;
}

// ---------------------------------------------------------------------------------------------
// Product

async function renderProduct({ view, match, alive }) {
  const id = match[1];
  document.title = `Product ${id} – iotreg`;
  const heading = h('h1', { tabindex: '-1', text: `Product ${id}` });
  const body = h('div', { class: 'product' }, placeholder());
  view.append(h('p', { class: 'breadcrumb' }, h('a', { href: '#/search', text: '← Products' })), heading, body);

  let product;
  let checks;
  try {
    [product, checks] = await Promise.all([api(`/api/v1/products/${id}`), checkDescriptions()]);
  } catch (error) {
    if (alive()) body.replaceChildren(h('p', { class: 'muted', text: `Product ${id} could not be loaded.` }));
    throw error;
  }
  if (!alive()) return;
  const name = productName(product) || `Product ${id}`;
  heading.textContent = name;
  document.title = `${name} – iotreg`;
  fillProduct(body, product, { checks, refresh: () => renderProductAgain(view, id) });
}

// The loaded checks by id; empty when they cannot be read (findings then show only their own text).
async function checkDescriptions() {
  try {
    const reply = await loadChecks();
    return new Map((reply.items ?? []).map((check) => [check.id, check]));
  } catch {
    return new Map();
  }
}

function renderProductAgain(view, id) {
  // Re-render in place (after a flag action) without moving focus to the page heading.
  generation += 1;
  const current = generation;
  const alive = () => current === generation;
  return Promise.all([api(`/api/v1/products/${id}`), checkDescriptions()]).then(([product, checks]) => {
    if (!alive()) return null;
    const body = view.querySelector('.product');
    fillProduct(body, product, { checks, refresh: () => renderProductAgain(view, id) });
    return body;
  });
}

function fillProduct(body, product, { checks, refresh }) {
  const latestVersion = product.versions?.length
    ? product.versions[product.versions.length - 1].version
    : product.checked_version;
  const evaluation = product.evaluation;
  const details = [
    ['Product ID', String(product.id)],
    ['Manufacturer', product.manufacturer ?? ''],
    ['Brand', product.brand ?? ''],
    ['Model', product.model ?? ''],
    ['Type', product.type ?? '—'],
    ['Status', statusBadge(product.status)],
    ['Sale-prohibition flag', product.flagged ? h('span', { class: 'badge flagged', text: 'flagged' }) : 'not flagged'],
    ['Label ID', product.label_id ?? '—'],
    ['Versions', String(product.version_count ?? product.versions?.length ?? '')],
    ['Checked version', product.checked_version === null || product.checked_version === undefined ? 'not checked' : String(product.checked_version)],
    ['Policy', evaluation ? `${evaluation.policy ?? ''}${evaluation.as_of ? `, as of ${evaluation.as_of}` : ''}` : '—'],
    ['Registered', formatTime(product.created_at)],
    ['Last updated', formatTime(product.updated_at)],
  ];
  body.replaceChildren(
    h('section', { class: 'card summary-card', 'aria-labelledby': 'summary-heading' },
      h('h2', { id: 'summary-heading', text: 'Summary' }),
      h('dl', { class: 'facts' }, details.map(([term, value]) => [h('dt', { text: term }), h('dd', null, value)])),
      h('p', null, h('a', { href: `/public/products/${product.id}`, target: '_blank', rel: 'noopener' }, 'Public consumer page'))),
    flagsSection(product, refresh),
    findingsSection(product, checks),
    versionsSection(product),
    diffSection(product),
    declarationSection(product.declaration, latestVersion),
    productAuditSection(product));
}

function flagsSection(product, refresh) {
  const flags = [...(product.flags ?? [])].sort((a, b) => b.id - a.id);
  const section = h('section', { class: 'card', 'aria-labelledby': 'flags-heading', id: 'flags' },
    h('h2', { id: 'flags-heading', text: 'Sale-prohibition flag' }));
  if (!flags.length) {
    section.append(h('p', { class: 'muted', text: 'No flag has been raised for this product.' }));
    return section;
  }
  for (const flag of flags) {
    const headingId = uid('flag');
    const block = h('section', { class: 'flag', 'aria-labelledby': headingId, dataset: { flagId: flag.id, state: flag.state } },
      h('h3', { id: headingId, tabindex: '-1' }, `Flag ${flag.id} `, stateBadge(flag.state),
        flag.remedied ? remediedBadge() : null),
      h('p', null, `Raised on version ${flag.version ?? '?'}.`
        + (flag.remedied ? ` Remedied by version ${flag.remedied_version}: the prohibition stays in force until an officer lifts it.` : '')
        + (flag.notice ? ` Stop notice ${flag.notice}.` : '')),
      table(`History of flag ${flag.id}`, ['When', 'State', 'By', 'Reason'],
        (flag.history ?? []).map((entry) => h('tr', null,
          cell(formatTime(entry.at)), cell(entry.state ?? ''), cell(entry.actor ?? ''), cell(entry.reason ?? '')))));
    if (can.actOnFlags() && (flag.state === 'raised' || flag.state === 'confirmed')) {
      block.append(flagActionForm(flag, refresh));
    }
    section.append(block);
  }
  return section;
}

// The reason field, the stop-notice field (to confirm) and the action buttons of one flag on the
// product page.
function flagActionForm(flag, refresh) {
  const actions = actionsFor(flag.state);
  const reason = h('textarea', { name: 'reason', rows: '2', required: true, maxlength: '4000' });
  const notice = actions.includes('confirm') ? noticeInput() : null;
  const buttons = actions.map((action, i) => h('button', {
    type: 'submit', name: 'action', value: action, class: i === 0 ? '' : 'secondary', text: `${FLAG_ACTIONS[action].label} flag`,
  }));
  const form = h('form', { class: 'flag-action', novalidate: true },
    h('fieldset', null,
      h('legend', { text: `Act on flag ${flag.id}` }),
      field('Reason', reason, flag.state === 'raised'
        ? 'Confirm puts the sale prohibition in force; dismiss closes the flag. The reason is recorded in the audit log.'
        : 'Lift ends the prohibition in force; dismiss closes the flag with no action. The reason is recorded in the audit log.'),
      notice ? noticeField(notice) : null,
      h('div', { class: 'actions' }, buttons)));
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearError();
    const action = event.submitter?.value || actions[0];
    const failure = actionFailure(action, [flag]);
    const why = requiredReason(reason, failure);
    if (!why) return;
    setDisabled(buttons, true);
    try {
      notify(actedMessage(action, await postFlagAction(action, [flag.id], why, notice?.value)));
    } catch (error) {
      showError(error, failure);
      return;
    } finally {
      setDisabled(buttons, false);
    }
    const body = await refresh().catch((error) => {
      showError(error, 'Could not reload the product');
      return null;
    });
    body?.querySelector(`[data-flag-id="${CSS.escape(String(flag.id))}"] h3`)?.focus();
  });
  return form;
}

// ---------------------------------------------------------------------------------------------
// Flag actions, shared by the product page and the flag queue

// Puts one officer action on flags, all or none (POST /api/v1/flags/actions), and answers the
// flags after it. A notice reference goes only with confirm, the one action that takes it.
async function postFlagAction(action, ids, reason, notice) {
  const body = { action, ids, reason };
  if (action === 'confirm' && notice?.trim()) body.notice = notice.trim();
  const reply = await api('/api/v1/flags/actions', { method: 'POST', body });
  return reply?.items ?? [];
}

// The reason typed into a field, trimmed; null, after saying that one is required, when blank.
function requiredReason(input, failure) {
  const reason = input.value.trim();
  if (!reason) {
    showError(new Error('a reason is required'), failure);
    input.focus();
  }
  return reason || null;
}

function noticeInput() {
  return h('input', { type: 'text', name: 'notice', maxlength: '200', autocomplete: 'off' });
}

function noticeField(input) {
  return field('Stop-notice reference (optional)', input,
    'Confirm only: the reference of the stop notice served, e.g. SN-2026-0141. It is shown on the public page.');
}

function setDisabled(controls, disabled) {
  for (const control of controls) control.disabled = disabled;
}

function flagProductName(flag) {
  return productName(flag) || `Product ${flag.product_id}`;
}

// What an error about an action is headed with: "Could not confirm flag 12", "Could not lift 3 flags".
function actionFailure(action, flags) {
  return `Could not ${action} ${flags.length === 1 ? `flag ${flags[0].id}` : `${flags.length} flags`}`;
}

// The notice after an action: "Flag 12 (Orrin OQ65-A7) confirmed." or "2 flags confirmed: 12, 14.".
function actedMessage(action, flags) {
  const done = FLAG_ACTIONS[action].done;
  if (flags.length === 1) return `Flag ${flags[0].id} (${flagProductName(flags[0])}) ${done}.`;
  return `${flags.length} flags ${done}: ${flags.map((flag) => flag.id).join(', ')}.`;
}

// What a finding says: its own message, else (a pass usually has none) what its check checks.
function findingMessage(finding, checks) {
  if (finding.message) return finding.message;
  const check = checks?.get(finding.check);
  if (!check?.title) return '';
  const requirement = finding.requirement || check.requirement;
  const verdict = { pass: 'Met', not_applicable: 'Not applicable' }[finding.outcome] ?? 'Checked';
  return `${verdict}: ${check.title}${requirement ? ` (${requirement})` : ''}.`;
}

function findingsSection(product, checks) {
  const findings = product.findings ?? [];
  const section = h('section', { class: 'card', 'aria-labelledby': 'findings-heading', id: 'findings' },
    h('h2', { id: 'findings-heading', text: 'Findings' }));
  if (!findings.length) {
    section.append(h('p', { class: 'muted', text: 'No findings: the product has not been checked.' }));
    return section;
  }
  const failed = findings.filter((f) => f.outcome === 'fail').length;
  const warned = findings.filter((f) => f.outcome === 'warn').length;
  section.append(h('p', null, `${findings.length} checks: ${failed} failed, ${warned} with a warning.`));
  const columns = ['Check', 'Outcome', 'Level', 'Requirement', 'Field', 'Message'];
  section.append(table('Findings of the latest check', columns,
    findings.map((finding) => h('tr', { class: `finding result-${cssToken(finding.outcome)}`, dataset: { check: finding.check ?? '', outcome: finding.outcome ?? '' } },
      labelledCell(columns[0], finding.check ?? ''),
      labelledCell(columns[1], outcomeBadge(finding.outcome)),
      labelledCell(columns[2], finding.level ?? ''),
      labelledCell(columns[3], finding.requirement ?? ''),
      labelledCell(columns[4], finding.field ? h('code', null, finding.field) : ''),
      labelledCell(columns[5], findingMessage(finding, checks)))), 'findings stacked'));
  return section;
}

function declarationSection(declaration, version) {
  const section = h('section', { class: 'card', 'aria-labelledby': 'declaration-heading', id: 'declaration' },
    h('h2', { id: 'declaration-heading', text: version ? `Latest declaration (version ${version})` : 'Latest declaration' }));
  if (!declaration) {
    section.append(h('p', { class: 'muted', text: 'No declaration is on file.' }));
    return section;
  }
  const fields = flatten(declaration);
  section.append(table('Declared fields', ['Field', 'Value'],
    [...fields].map(([path, value]) => h('tr', null, h('th', { scope: 'row' }, h('code', null, path)), cell(formatValue(value)))),
    'declaration'));
  return section;
}

function versionsSection(product) {
  const versions = product.versions ?? [];
  return h('section', { class: 'card', 'aria-labelledby': 'versions-heading', id: 'versions' },
    h('h2', { id: 'versions-heading', text: 'Version history' }),
    versions.length
      ? table('Declaration versions, oldest first', ['Version', 'Imported', 'Source', 'Location', 'Import run'],
        versions.map((version) => h('tr', null,
          cell(String(version.version)), cell(formatTime(version.imported_at)), cell(version.source ?? ''),
          cell(version.location ?? ''), cell(version.import_run === null || version.import_run === undefined ? '' : String(version.import_run)))))
      : h('p', { class: 'muted', text: 'No versions.' }));
}

// Flattens a nested declaration to dotted paths in document order; lists stay whole values.
function flatten(value, prefix = '', out = new Map()) {
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (!keys.length && prefix) out.set(prefix, value);
    for (const key of keys) flatten(value[key], prefix ? `${prefix}.${key}` : key, out);
  } else if (prefix) {
    out.set(prefix, value);
  }
  return out;
}

// The field-by-field difference of two declarations: [{path, change, before, after}], where
// change is added, removed or changed; unchanged fields are counted, not listed.
function diffDeclarations(before, after) {
  const a = flatten(before ?? {});
  const b = flatten(after ?? {});
  const paths = [...b.keys()];
  let previous = null;
  for (const path of a.keys()) {
    if (!b.has(path)) {
      const at = previous === null ? 0 : paths.indexOf(previous) + 1;
      paths.splice(at, 0, path);
    }
    previous = path;
  }
  const changes = [];
  let unchanged = 0;
  for (const path of paths) {
    if (!a.has(path)) changes.push({ path, change: 'added', after: b.get(path) });
    else if (!b.has(path)) changes.push({ path, change: 'removed', before: a.get(path) });
    else if (JSON.stringify(a.get(path)) !== JSON.stringify(b.get(path))) {
      changes.push({ path, change: 'changed', before: a.get(path), after: b.get(path) });
    } else unchanged += 1;
  }
  return { changes, unchanged };
}

function diffSection(product) {
  const versions = product.versions ?? [];
  const section = h('section', { class: 'card', 'aria-labelledby': 'diff-heading', id: 'compare' },
    h('h2', { id: 'diff-heading', text: 'Compare versions' }));
  if (versions.length < 2) {
    section.append(h('p', { class: 'muted', text: 'Only one version is on file: there is nothing to compare.' }));
    return section;
  }
  const options = versions.map((v) => [String(v.version), `Version ${v.version}${v.imported_at ? ` (${String(v.imported_at).slice(0, 10)})` : ''}`]);
  const fromSelect = select('from', options, String(versions[versions.length - 2].version));
  const toSelect = select('to', options, String(versions[versions.length - 1].version));
  const output = h('div', { class: 'diff-output', 'aria-live': 'polite' });
  const form = h('form', { class: 'inline-form' },
    field('From version', fromSelect), field('To version', toSelect),
    h('div', { class: 'actions' }, h('button', { type: 'submit', text: 'Compare' })));
  const show = () => {
    const from = versions.find((v) => String(v.version) === fromSelect.value);
    const to = versions.find((v) => String(v.version) === toSelect.value);
    output.replaceChildren(diffTable(from, to));
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    show();
  });
  fromSelect.addEventListener('change', show);
  toSelect.addEventListener('change', show);
  section.append(form, output);
  show();
  return section;
}

function diffTable(from, to) {
  const { changes, unchanged } = diffDeclarations(from.declaration, to.declaration);
  const counts = { added: 0, removed: 0, changed: 0 };
  for (const change of changes) counts[change.change] += 1;
  const summary = h('p', { class: 'diff-summary' },
    from.version === to.version
      ? `Version ${from.version} compared with itself: ${unchanged} fields, no differences.`
      : `From version ${from.version} to version ${to.version}: ${counts.changed} changed, ${counts.added} added, ${counts.removed} removed, ${unchanged} unchanged.`);
  if (!changes.length) return h('div', null, summary);
  return h('div', null, summary,
    table(`Differences between version ${from.version} and version ${to.version}`,
      ['Field', 'Change', `Version ${from.version}`, `Version ${to.version}`],
      changes.map((change) => h('tr', { class: `diff-${change.change}`, dataset: { path: change.path, change: change.change } },
        h('th', { scope: 'row' }, h('code', null, change.path)),
        cell(h('span', { class: `badge change-${change.change}`, text: change.change })),
        cell(change.change === 'added' ? h('span', { class: 'muted', text: '(absent)' }) : formatValue(change.before)),
        cell(change.change === 'removed' ? h('span', { class: 'muted', text: '(absent)' }) : formatValue(change.after)))),
      'diff'));
}

function productAuditSection(product) {
  const events = product.audit ?? [];
  const section = h('section', { class: 'card', 'aria-labelledby': 'product-audit-heading', id: 'product-audit' },
    h('h2', { id: 'product-audit-heading', text: 'Audit trail' }));
  section.append(events.length
    ? auditTable(events, 'Audit events for this product')
    : h('p', { class: 'muted', text: 'No audit events.' }));
  if (can.readAudit()) {
    section.append(h('p', null, h('a', { href: `#/audit${query({ product: product.id })}` }, 'Open in the audit log')));
  }
  return section;
}

// ---------------------------------------------------------------------------------------------
// Flag queue: a tab per queue with the number of its flags, the queue's flags, and actions on one
// flag or on the ticked ones. After every action the list and the numbers are loaded again.

// The queues, in the order an officer works through them; filter is the query of GET
// /api/v1/flags. The queue of each state has the state's name as its key.
const FLAG_QUEUES = [
  { key: 'raised', label: 'Raised', title: 'Raised flags', filter: { state: 'raised' },
    about: 'Flags the checks raised that no officer has reviewed. Confirm one to put the sale prohibition in force, or dismiss it.' },
  { key: 'confirmed', label: 'Confirmed', title: 'Confirmed flags', filter: { state: 'confirmed' }, remedy: true,
    about: 'Sale prohibitions in force. Lift one when the prohibition ends.' },
  { key: 'remedied', label: 'Remedy queue', title: 'Remedy queue', filter: { state: 'confirmed', remedied: 'true' }, remedy: true,
    about: 'Prohibitions in force whose product has since become compliant or excepted: lift them once the remedy is verified.' },
  { key: 'withdrawn', label: 'Withdrawn', title: 'Withdrawn flags', filter: { state: 'withdrawn' },
    about: 'Raised flags whose product became compliant or excepted before anyone reviewed them.' },
  { key: 'dismissed', label: 'Dismissed', title: 'Dismissed flags', filter: { state: 'dismissed' },
    about: 'Flags an officer closed with no action.' },
  { key: 'lifted', label: 'Lifted', title: 'Lifted flags', filter: { state: 'lifted' },
    about: 'Prohibitions an officer ended.' },
  { key: 'all', label: 'All', title: 'All flags', filter: {},
    about: 'Every flag, whatever its state.' },
];

// The flag page's address: the queue, and the manufacturer and order it is shown with.
function flagQueueHash(queue, { manufacturer, sort } = {}) {
  return `#/flags${query({ queue: queue.key === 'raised' ? null : queue.key, manufacturer, sort })}`;
}

const FLAG_SORTS = [['raised_at', 'Oldest raised first'], ['-raised_at', 'Newest raised first']];

async function renderFlags({ view, params, alive }) {
  document.title = 'Flag queue – iotreg';
  const key = params.get('queue') || 'raised';
  const queue = FLAG_QUEUES.find((candidate) => candidate.key === key);
  view.append(h('h1', { tabindex: '-1', text: 'Flag queue' }));
  if (!queue) throw new Error(`there is no flag queue called “${key}”`);
  const options = { manufacturer: params.get('manufacturer') ?? '', sort: params.get('sort') ?? '' };
  const manufacturerInput = h('input', { type: 'text', name: 'manufacturer', value: options.manufacturer, autocomplete: 'off' });
  const sortSelect = select('sort', FLAG_SORTS, options.sort || 'raised_at');
  const filterForm = h('form', { class: 'filters', 'aria-label': 'Flag filter', novalidate: true },
    field('Manufacturer', manufacturerInput, 'Part of the name, in any case.'),
    field('Order', sortSelect),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', text: 'Show' }),
      h('button', { type: 'button', class: 'secondary', text: 'Clear filters', onclick: () => navigate(flagQueueHash(queue)) })));
  filterForm.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(flagQueueHash(queue, {
      manufacturer: manufacturerInput.value.trim(),
      sort: sortSelect.value === 'raised_at' ? '' : sortSelect.value,
    }));
  });

  const tabs = flagQueueTabs(queue, alive, options);
  const listHeading = h('h2', { id: 'flag-list-heading', tabindex: '-1', text: queue.title });
  const summary = h('p', { class: 'summary', id: 'flag-summary' }, 'Loading…');
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'more', text: 'More flags', hidden: true });
  const bulkActions = can.actOnFlags() && queue.filter.state ? actionsFor(queue.filter.state) : [];
  const shownFlags = new Map();
  const selection = bulkActions.length
    ? flagSelection(tbody, bulkActions, (action, ids, opener) => act(action, ids.map((id) => shownFlags.get(id)), opener))
    : null;
  view.append(
    h('p', null, 'Products flagged for sale prohibition. Every action needs a reason, recorded in the flag’s history and the audit log.'),
    tabs.element,
    filterForm,
    h('section', { 'aria-labelledby': 'flag-list-heading' },
      listHeading,
      h('p', { class: 'muted', text: queue.about }),
      summary,
      selection?.bar,
      flagTable(queue, tbody, Boolean(selection), 'flag-summary'),
      more));

  const list = pagedRows({
    tbody,
    more,
    alive,
    fetchPage: (cursor) => api(`/api/v1/flags${query({ ...queue.filter, ...options, limit: PAGE_SIZE, cursor })}`),
    row: (flag) => {
      shownFlags.set(flag.id, flag);
      return flagRow(flag, { remedy: queue.remedy, selection, onAction: act });
    },
    emptyText: 'No flags in this queue.',
    failure: 'Could not load more flags',
    onPage: ({ count, hasMore }) => {
      summary.textContent = count ? `${countText(count, hasMore, ['flag', 'flags'])}.` : 'No flags in this queue.';
      selection?.update();
    },
  });
  const refresh = () => Promise.all([list.reload(), tabs.reload()]);

  // Asks for the reason of an action on flags and, once done or refused, shows the queue as it is
  // now. Focus goes to the row that took the acted-on row's place, else to the list's heading.
  function act(action, flags, opener) {
    const place = flags.length === 1 ? [...tbody.rows].indexOf(opener.closest('tr')) : -1;
    const reload = async () => {
      await refresh().catch((error) => showError(error, 'Could not reload the flags'));
      if (!alive()) return;
      const row = place < 0 ? null : tbody.rows[Math.min(place, tbody.rows.length - 1)];
      const target = row?.dataset.flagId ? row.querySelector('button') ?? row.querySelector('a') : listHeading;
      target.focus();
    };
    openFlagActionDialog({
      action,
      flags,
      opener,
      onActed: (acted) => {
        notify(actedMessage(action, acted));
        return reload();
      },
      onRefused: (error) => {
        showError(error, actionFailure(action, flags));
        return reload();
      },
    });
  }

  return Promise.all([
    list.reload(),
    tabs.reload().catch((error) => showError(error, 'Could not count the flags')),
  ]);
}

function flagTable(queue, tbody, selectable, summaryId) {
  const headers = ['Flag', 'Product', 'Manufacturer', 'State', 'Raised', 'Version',
    queue.remedy ? 'Remedied by version' : null, 'Reason', 'Actions'].filter(Boolean);
  return tableBox(
    h('table', { class: 'flags stacked', 'aria-describedby': summaryId },
      h('caption', { text: queue.title }),
      h('thead', null, h('tr', null,
        selectable ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden', text: 'Select' })) : null,
        headers.map((header) => h('th', { scope: 'col', text: header })))),
      tbody));
}

// The queue tabs: a link per queue with the number of its flags; reload() counts them again.
function flagQueueTabs(current, alive, options) {
  const counts = new Map(FLAG_QUEUES.map((queue) => [queue.key, h('span', { class: 'count', text: '…' })]));
  const element = h('nav', { class: 'queue-tabs', 'aria-label': 'Flag queues' },
    h('ul', null, FLAG_QUEUES.map((queue) => h('li', null,
      h('a', { href: flagQueueHash(queue, options), dataset: { queue: queue.key }, 'aria-current': queue === current ? 'page' : null },
        queue.label, ' ', counts.get(queue.key))))));
  const reload = async () => {
    // The first page of any flag list counts every state; one flag per page is enough.
    const reply = await api(`/api/v1/flags${query({ limit: 1 })}`);
    if (!alive()) return;
    const counted = reply.counts ?? {};
    // Every flag is in exactly one state.
    counted.all = FLAG_STATES.reduce((sum, state) => sum + (counted[state] ?? 0), 0);
    for (const [key, element] of counts) element.textContent = String(counted[key] ?? 0);
  };
  return { element, reload };
}

// Ticking flags in a list: a checkbox per row, "Select all on this page", how many are ticked and
// a button per action, which calls act(action, tickedIds, button). update() must run after rows
// are added or replaced.
function flagSelection(tbody, actions, act) {
  const boxes = () => [...tbody.querySelectorAll('input[data-select-flag]')];
  const ticked = () => boxes().filter((box) => box.checked).map((box) => Number(box.value));
  const all = h('input', { type: 'checkbox', name: 'select-all' });
  const status = h('span', { class: 'selected-count', 'aria-live': 'polite' });
  const buttons = actions.map((action, index) => h('button', {
    type: 'button', class: index === 0 ? '' : 'secondary', text: `${FLAG_ACTIONS[action].label} selected`,
  }));
  const update = () => {
    const shown = boxes().length;
    const count = ticked().length;
    all.checked = shown > 0 && count === shown;
    all.indeterminate = count > 0 && count < shown;
    all.disabled = shown === 0;
    status.textContent = `${count} of ${shown} selected`;
    setDisabled(buttons, count === 0);
  };
  all.addEventListener('change', () => {
    for (const box of boxes()) box.checked = all.checked;
    update();
  });
  tbody.addEventListener('change', (event) => {
    if (event.target.matches('input[data-select-flag]')) update();
  });
  buttons.forEach((button, index) => button.addEventListener('click', () => act(actions[index], ticked(), button)));
  const bar = h('div', { class: 'bulk-bar', role: 'group', 'aria-label': 'Selected flags' },
    h('label', { class: 'select-all' }, all, 'Select all on this page'),
    status,
    h('div', { class: 'actions' }, buttons));
  const checkbox = (flag) => h('input', {
    type: 'checkbox', value: flag.id, dataset: { selectFlag: '' },
    'aria-label': `Select flag ${flag.id} (${flagProductName(flag)})`,
  });
  update();
  return { bar, update, checkbox };
}

// One flag of a queue: a checkbox when flags can be ticked, the remedying version in the queues
// that show it, and a button per action its state allows.
function flagRow(flag, { remedy, selection, onAction }) {
  const name = flagProductName(flag);
  const dataset = {
    flagId: flag.id, productId: flag.product_id, state: flag.state,
    remedied: String(Boolean(flag.remedied)), remediedVersion: flag.remedied_version ?? '',
  };
  return h('tr', { dataset },
    selection ? labelledCell('Select', selection.checkbox(flag)) : null,
    h('td', { class: 'flag-id', text: String(flag.id), 'data-label': 'Flag' }),
    labelledCell('Product', productLink(flag.product_id, name)),
    labelledCell('Manufacturer', flag.manufacturer ?? ''),
    labelledCell('State', flagStateSummary(flag)),
    labelledCell('Raised', formatTime(flag.raised_at)),
    labelledCell('Version', String(flag.version ?? '')),
    remedy ? labelledCell('Remedied by version', flag.remedied_version ? String(flag.remedied_version) : '') : null,
    labelledCell('Reason', flag.reason ?? ''),
    labelledCell('Actions', h('div', { class: 'row-actions' }, flagActionButtons(flag, name, onAction))));
}

// The state's badge, "remedied" when it is, and the stop notice's reference when one was given.
function flagStateSummary(flag) {
  return [
    stateBadge(flag.state),
    flag.remedied ? [' ', remediedBadge()] : null,
    flag.notice ? h('span', { class: 'notice-ref', text: `Stop notice ${flag.notice}` }) : null,
  ];
}

function flagActionButtons(flag, name, onAction) {
  const actions = can.actOnFlags() ? actionsFor(flag.state) : [];
  return actions.map((action, index) => {
    const { label } = FLAG_ACTIONS[action];
    const button = h('button', {
      type: 'button', class: index === 0 ? 'small' : 'small secondary',
      'aria-label': `${label} flag ${flag.id} (${name})`, text: label,
    });
    button.addEventListener('click', () => onAction(action, [flag], button));
    return button;
  });
}

// A modal dialog asking once for the reason of an action on one flag or several (and, to confirm,
// for an optional stop-notice reference), then taking it: all of them or none. onActed(flags)
// receives the flags as they are after it. A refusal that means the page was out of date (404,
// 409) closes the dialog and goes to onRefused(error); other failures are shown in the dialog.
function openFlagActionDialog({ action, flags, opener, onActed, onRefused }) {
  const { label } = FLAG_ACTIONS[action];
  const single = flags.length === 1;
  const title = single ? `${label} flag ${flags[0].id}` : `${label} ${flags.length} flags`;
  const titleId = uid('dialog-title');
  const reason = h('textarea', { name: 'reason', rows: '3', required: true, maxlength: '4000' });
  const notice = action === 'confirm' ? noticeInput() : null;
  const submit = h('button', { type: 'submit', text: single ? `${label} flag` : title });
  const cancel = h('button', { type: 'button', class: 'secondary', text: 'Cancel' });
  const describe = (flag) => `Flag ${flag.id}: ${flagProductName(flag)}, ${flag.manufacturer ?? ''}. Raised: ${flag.reason ?? ''}`;
  const form = h('form', { novalidate: true },
    h('h2', { id: titleId, text: title }),
    single
      ? h('p', null, describe(flags[0]))
      : h('ul', { class: 'dialog-flags', tabindex: '0', 'aria-label': 'The selected flags' },
        flags.map((flag) => h('li', { text: describe(flag) }))),
    field('Reason', reason, single
      ? 'Recorded with your name in the flag’s history and in the audit log.'
      : 'One reason for all of them, recorded with your name in each flag’s history and in the audit log.'),
    notice ? noticeField(notice) : null,
    h('div', { class: 'alert dialog-alert', role: 'alert', hidden: true }),
    h('div', { class: 'actions' }, submit, cancel));
  const dialog = h('dialog', { 'aria-labelledby': titleId, class: 'flag-dialog' }, form);
  keepFocusIn(dialog);
  let outcome = null;
  cancel.addEventListener('click', () => dialog.close());
  dialog.addEventListener('close', () => {
    dialog.remove();
    if (outcome?.acted) onActed(outcome.acted);
    else if (outcome?.refused) onRefused(outcome.refused);
    else if (opener.isConnected) opener.focus();
  });
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    clearError();
    const failure = actionFailure(action, flags);
    const why = requiredReason(reason, failure);
    if (!why) return;
    setDisabled([submit, cancel], true);
    try {
      outcome = { acted: await postFlagAction(action, flags.map((flag) => flag.id), why, notice?.value) };
      dialog.close();
    } catch (error) {
      if (error instanceof ApiError && (error.status === 404 || error.status === 409)) {
        outcome = { refused: error };
        dialog.close();
      } else {
        showError(error, failure);
      }
    } finally {
      setDisabled([submit, cancel], false);
    }
  });
  document.body.append(dialog);
  dialog.showModal();
  reason.focus();
}

// Tab and Shift+Tab cycle through the controls of a modal dialog: from the last to the first and
// back, never out of it to the browser's own controls or the document.
function keepFocusIn(dialog) {
  dialog.addEventListener('keydown', (event) => {
    if (event.key !== 'Tab' || event.altKey || event.ctrlKey || event.metaKey) return;
    const stops = focusStops(dialog);
    if (!stops.length) return;
    const first = stops[0];
    const last = stops[stops.length - 1];
    const inside = stops.includes(document.activeElement);
    if (event.shiftKey && (document.activeElement === first || !inside)) {
      event.preventDefault();
      last.focus();
    } else if (!event.shiftKey && (document.activeElement === last || !inside)) {
      event.preventDefault();
      first.focus();
    }
  });
}

// The elements inside `root` that Tab stops at, in document order.
function focusStops(root) {
  const candidates = root.querySelectorAll('a[href], button, input, select, textarea, summary, [tabindex]');
  return [...candidates].filter((element) => element.tabIndex >= 0 && !element.disabled
    && element.getClientRects().length > 0 && getComputedStyle(element).visibility !== 'hidden');
}

// ---------------------------------------------------------------------------------------------
// Audit log

function renderAudit({ view, params, alive }) {
  document.title = 'Audit log – iotreg';
  const names = ['product', 'actor', 'since', 'until'];
  const filters = Object.fromEntries(names.map((name) => [name, params.get(name) ?? '']));
  const inputs = {
    product: h('input', { type: 'text', name: 'product', inputmode: 'numeric', pattern: '[0-9]*', value: filters.product, autocomplete: 'off' }),
    actor: h('input', { type: 'text', name: 'actor', value: filters.actor, autocomplete: 'off' }),
    since: h('input', { type: 'date', name: 'since', value: filters.since }),
    until: h('input', { type: 'date', name: 'until', value: filters.until }),
  };
  const form = h('form', { class: 'filters', 'aria-label': 'Audit filter', novalidate: true },
    field('Product ID', inputs.product),
    field('Actor', inputs.actor, 'Exactly as listed, e.g. Jane Smith (officer, token 3) or alice (command line).'),
    field('From', inputs.since, 'Events on or after this day (UTC).'),
    field('To', inputs.until, 'Events on or before this day (UTC).'),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', text: 'Filter' }),
      h('button', { type: 'button', class: 'secondary', text: 'Clear filters', onclick: () => navigate('#/audit') })));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(`#/audit${query(Object.fromEntries(names.map((name) => [name, inputs[name].value.trim()])))}`);
  });
  const summary = h('p', { class: 'summary' }, 'Loading…');
  const described = [
    filters.product ? ` for product ${filters.product}` : '',
    filters.actor ? ` by ${filters.actor}` : '',
    filters.since ? ` from ${filters.since}` : '',
    filters.until ? ` to ${filters.until}` : ''].join('');
  const wrap = auditTable([], `Audit events${described}, newest first`);
  const more = h('button', { type: 'button', class: 'more', text: 'More events', hidden: true });
  view.append(h('h1', { tabindex: '-1', text: 'Audit log' }), form,
    h('section', { 'aria-labelledby': 'audit-list-heading' },
      h('h2', { id: 'audit-list-heading', text: 'Events, newest first' }), summary));

  if (!can.readAudit()) {
    summary.textContent = 'Your role cannot read the audit log.';
    return null;
  }
  summary.after(wrap, more);
  const list = pagedRows({
    tbody: wrap.querySelector('tbody'),
    more,
    alive,
    fetchPage: (cursor) => api(`/api/v1/audit${query({ ...filters, limit: PAGE_SIZE, cursor })}`),
    row: auditRow,
    emptyText: 'No events match these filters.',
    failure: 'Could not load more events',
    onPage: ({ count, hasMore }) => {
      summary.textContent = count ? `${countText(count, hasMore, ['event', 'events'])}.` : 'No events match.';
    },
  });
  return list.reload();
}

const AUDIT_COLUMNS = ['Event', 'Time', 'Actor', 'What happened', 'Subject'];

function auditTable(events, caption) {
  return table(caption, AUDIT_COLUMNS, events.map(auditRow), 'audit stacked');
}

// "1 declaration", "2 declarations".
function counted(count, one, many = `${one}s`) {
  return `${count} ${Number(count) === 1 ? one : many}`;
}

// The flag changes an import or re-check caused, as a clause: "2 flags raised, 1 withdrawn".
function flagChanges(details) {
  const parts = [];
  if (details.flags_raised) parts.push(`${counted(details.flags_raised, 'flag')} raised`);
  if (details.flags_withdrawn) parts.push(`${counted(details.flags_withdrawn, 'flag')} withdrawn`);
  if (details.flags_remedied) parts.push(`${counted(details.flags_remedied, 'flag')} marked remedied`);
  return parts.join(', ');
}

const FLAG_ACTION_VERBS = { confirm: 'Confirmed', dismiss: 'Dismissed', lift: 'Lifted' };

// An audit event's details in a sentence, e.g. "Imported 120 declarations from decl.csv: 118
// stored, 2 rejected." Actions this page does not know are described member by member.
function describeAuditEvent(event) {
  const d = event.details ?? {};
  const action = event.action ?? '';
  const reason = d.reason ? ` Reason: “${d.reason}”.` : '';
  if (action === 'import') {
    if (d.file_error) return `Could not import ${d.source ?? 'a file'}: ${d.file_error}.`;
    const stored = [`${d.accepted ?? 0} stored`, `${d.rejected ?? 0} rejected`];
    const kinds = [];
    if (d.new_products) kinds.push(counted(d.new_products, 'new product'));
    if (d.new_versions) kinds.push(counted(d.new_versions, 'new version'));
    if (d.unchanged) kinds.push(`${d.unchanged} unchanged`);
    let text = `Imported ${counted(d.records_read ?? 0, 'declaration')} from ${d.source ?? 'a file'}`
      + `${d.format ? ` (${String(d.format).toUpperCase()})` : ''}: ${stored.join(', ')}`
      + `${kinds.length ? ` (${kinds.join(', ')})` : ''}.`;
    if (d.products_changed !== undefined) {
      text += ` Checked: ${counted(d.products_changed, 'product')} changed status`;
      const flags = flagChanges(d);
      text += flags ? `; ${flags}.` : '.';
    }
    return text;
  }
  if (action === 'recheck') {
    const flags = flagChanges(d);
    return `Re-checked ${counted(d.checked ?? 0, 'product')} under ${d.policy ?? 'the policy'}`
      + `${d.as_of ? ` as of ${d.as_of}` : ''}: ${counted(d.status_changes ?? 0, 'status change')}`
      + `${flags ? `; ${flags}` : ''}.`;
  }
  const officer = /^flag\.(confirm|dismiss|lift)$/.exec(action);
  if (officer) {
    return `${FLAG_ACTION_VERBS[officer[1]]} flag ${event.subject_id}`
      + `${d.product_id ? ` of product ${d.product_id}` : ''}${d.from && d.to ? ` (${d.from} → ${d.to})` : ''}.`
      + `${d.notice ? ` Stop notice ${d.notice}.` : ''}${reason}`;
  }
  if (action === 'flag.withdrawn' || action === 'flag.remedied' || action === 'flag.remedy_lapsed') {
    const what = { 'flag.withdrawn': 'withdrawn', 'flag.remedied': 'marked remedied', 'flag.remedy_lapsed': 'no longer remedied' }[action];
    return `Flag ${event.subject_id}${d.product_id ? ` of product ${d.product_id}` : ''} ${what} by a new verdict`
      + `${d.from && d.to && d.from !== d.to ? ` (${d.from} → ${d.to})` : ''}.${reason}`;
  }
  if (action === 'token.create') {
    return `Created ${d.role === 'admin' || d.role === 'officer' ? 'an' : 'a'} ${d.role ?? ''} token ${event.subject_id} for ${d.holder ?? 'someone'}`
      + `${d.manufacturer ? `, acting for ${d.manufacturer}` : ''}${d.expires ? `, valid until ${d.expires}` : ''}.`;
  }
  if (action === 'token.revoke') return `Revoked token ${event.subject_id}.`;
  const members = [...flatten(d)].map(([key, value]) => `${key.replaceAll('_', ' ').replaceAll('.', ' ')}: ${formatValue(value)}`);
  return `${action.replaceAll('.', ' ').replaceAll('_', ' ')}${members.length ? ` (${members.join('; ')})` : ''}.`;
}

function auditRow(event) {
  const productId = event.subject_type === 'product' ? event.subject_id : event.details?.product_id;
  const subject = [`${event.subject_type ?? ''} ${event.subject_id ?? ''}`.replaceAll('_', ' ').trim()];
  if (productId !== undefined && productId !== null && event.subject_type !== 'product') {
    subject.push(h('br'), productLink(productId, `product ${productId}`));
  } else if (event.subject_type === 'product') {
    subject.splice(0, 1, productLink(productId, `product ${productId}`));
  }
  const [id, time, actor, what, about] = AUDIT_COLUMNS;
  return h('tr', { dataset: { eventId: event.id, action: event.action ?? '' } },
    labelledCell(id, String(event.id)),
    labelledCell(time, formatTime(event.at)),
    labelledCell(actor, event.actor ?? ''),
    labelledCell(what, h('span', { class: 'audit-sentence', text: describeAuditEvent(event) })),
    labelledCell(about, subject));
}

// ---------------------------------------------------------------------------------------------
// What changed: the status history (every change of a product's status or flag), newest first.

function renderChanges({ view, params, alive }) {
  document.title = 'What changed – iotreg';
  const filters = { since: params.get('since') ?? '', cause: params.get('cause') ?? '' };
  const sinceInput = h('input', { type: 'date', name: 'since', value: filters.since });
  const causeList = h('datalist', { id: uid('causes') });
  const causeInput = h('input', { type: 'text', name: 'cause', value: filters.cause, list: causeList.id, autocomplete: 'off' });
  const form = h('form', { class: 'filters', 'aria-label': 'Change filter', novalidate: true },
    field('Since', sinceInput, 'Changes on or after this day (UTC).'),
    field('Cause', causeInput, 'Exactly as listed: an import run (import run 12), a re-check (re-check run 4, daily re-check 2026-12-05) or an officer. Pick one from the list, or select a cause in the table.'),
    causeList,
    h('div', { class: 'actions' },
      h('button', { type: 'submit', text: 'Filter' }),
      h('button', { type: 'button', class: 'secondary', text: 'Clear filters', onclick: () => navigate('#/changes') })));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    navigate(`#/changes${query({ since: sinceInput.value, cause: causeInput.value.trim() })}`);
  });

  const summary = h('p', { class: 'summary', id: 'change-summary' }, 'Loading…');
  const tbody = h('tbody');
  const more = h('button', { type: 'button', class: 'more', text: 'More changes', hidden: true });
  view.append(
    h('h1', { tabindex: '-1', text: 'What changed' }),
    h('p', null, 'Every change of a product’s status or flag, newest first, with what caused it.'),
    form,
    h('section', { 'aria-labelledby': 'change-list-heading' },
      h('h2', { id: 'change-list-heading', text: 'Changes' }),
      summary,
      tableBox(
        h('table', { class: 'changes stacked', 'aria-describedby': 'change-summary' },
          h('caption', { text: `Changes${describeChangeFilters(filters)}` }),
          h('thead', null, h('tr', null, CHANGE_COLUMNS.map((header) => h('th', { scope: 'col', text: header })))),
          tbody)),
      more));

  const causes = new Set([session.me.actor].filter(Boolean));
  const list = pagedRows({
    tbody,
    more,
    alive,
    fetchPage: (cursor) => api(`/api/v1/changes${query({ ...filters, limit: PAGE_SIZE, cursor })}`),
    row: (change) => changeRow(change, filters),
    emptyText: 'No changes match these filters.',
    failure: 'Could not load more changes',
    onPage: ({ reply, count, hasMore }) => {
      summary.textContent = count
        ? `${countText(count, hasMore, ['change', 'changes'])}${describeChangeFilters(filters)}.`
        : `No changes${describeChangeFilters(filters)}.`;
      for (const change of reply.items ?? []) causes.add(change.cause);
      causeList.replaceChildren(...[...causes].sort().map((cause) => h('option', { value: cause })));
    },
  });
  return list.reload();
}

function describeChangeFilters(filters) {
  return `${filters.since ? ` since ${filters.since}` : ''}${filters.cause ? ` caused by ${filters.cause}` : ''}`;
}

// One change: the product links to its page, the cause (unless it is the filter already) to the
// changes of that cause.
function changeRow(change, filters) {
  const dataset = {
    changeId: change.id ?? '', productId: change.product_id, kind: change.kind,
    from: change.from ?? '', to: change.to ?? '', cause: change.cause ?? '',
  };
  const cause = filters.cause
    ? change.cause
    : h('a', { href: `#/changes${query({ since: filters.since, cause: change.cause })}`, title: 'Show only the changes of this cause' }, change.cause);
  const [when, product, manufacturer, version, what, fromAndTo, why] = CHANGE_COLUMNS;
  return h('tr', { dataset },
    labelledCell(when, formatTime(change.at)),
    labelledCell(product, productLink(change.product_id, productName(change) || `Product ${change.product_id}`)),
    labelledCell(manufacturer, change.manufacturer ?? ''),
    labelledCell(version, String(change.version ?? '')),
    labelledCell(what, change.kind === 'flag' ? `Flag ${change.flag_id ?? ''}`.trim() : 'Status'),
    labelledCell(fromAndTo, fromTo(change)),
    labelledCell(why, cause));
}

const CHANGE_COLUMNS = ['When', 'Product', 'Manufacturer', 'Version', 'What changed', 'From → to', 'Cause'];

// "raised → confirmed" as badges (statuses or flag states), "new" when there was none before,
// and the reason of a flag change under it.
function fromTo(change) {
  const badge = change.kind === 'flag' ? stateBadge : statusBadge;
  return [
    change.from ? badge(change.from) : h('span', { class: 'muted', text: 'new' }),
    h('span', { class: 'arrow', 'aria-hidden': 'true', text: ' → ' }),
    h('span', { class: 'visually-hidden', text: ' to ' }),
    badge(change.to),
    change.reason ? h('p', { class: 'change-reason', text: change.reason }) : null,
  ];
}

// ---------------------------------------------------------------------------------------------
// Upload: a manufacturer (or an admin) sends a file of declarations, sees what a dry run would
// store and which verdicts its products would get, then submits it for real.

const UPLOAD_TYPES = '.csv,.json,.jsonl,.yaml,.yml,.xlsx';

function renderUpload({ view, alive }) {
  document.title = 'Upload declarations – iotreg';
  view.append(h('h1', { tabindex: '-1', text: 'Upload declarations' }));
  if (!can.upload()) {
    view.append(h('p', null, 'Only a manufacturer’s or an administrator’s token may submit declarations.'));
    return null;
  }
  let chosen = null;
  const fileInput = h('input', { type: 'file', name: 'file', accept: UPLOAD_TYPES });
  const chosenText = h('p', { class: 'chosen-file', 'aria-live': 'polite', text: 'No file chosen.' });
  const drop = h('div', { class: 'drop-zone' },
    h('p', null, 'Or drop the file here.'), chosenText);
  const preview = h('button', { type: 'submit', text: 'Preview (dry run)' });
  const submit = h('button', { type: 'button', class: 'secondary', text: 'Submit for real', disabled: true });
  const output = h('div', { class: 'upload-report' });
  const choose = (file) => {
    chosen = file ?? null;
    chosenText.textContent = chosen ? `Chosen: ${chosen.name} (${chosen.size} bytes).` : 'No file chosen.';
    submit.disabled = true;
    output.replaceChildren();
  };
  fileInput.addEventListener('change', () => choose(fileInput.files[0]));
  drop.addEventListener('dragover', (event) => {
    event.preventDefault();
    drop.classList.add('dragging');
  });
  drop.addEventListener('dragleave', () => drop.classList.remove('dragging'));
  drop.addEventListener('drop', (event) => {
    event.preventDefault();
    drop.classList.remove('dragging');
    choose(event.dataTransfer?.files?.[0]);
  });
  const form = h('form', { class: 'upload', 'aria-label': 'Upload declarations', novalidate: true },
    field('Declarations file', fileInput,
      `CSV, JSON, JSON Lines, YAML or an XLSX workbook (${UPLOAD_TYPES}), in the declaration format version 1.${session.me.manufacturer ? ` Only ${session.me.manufacturer}’s products are accepted.` : ''}`),
    drop,
    h('div', { class: 'actions' }, preview, submit));

  const send = async (dryRun) => {
    clearError();
    if (!chosen) {
      showError(new Error('choose a file first'), 'Nothing to upload');
      fileInput.focus();
      return;
    }
    const body = new FormData();
    body.append('file', chosen, chosen.name);
    setDisabled([preview, submit], true);
    output.replaceChildren(placeholder(dryRun ? 'Checking the file…' : 'Importing…'));
    let report;
    let refused = null;
    try {
      report = await api(`/api/v1/declarations${query({ dry_run: dryRun ? 'true' : 'false' })}`, { method: 'POST', rawBody: body });
    } catch (error) {
      refused = error;
      report = error.envelope?.report ?? null;
    } finally {
      preview.disabled = false;
    }
    if (!alive()) return;
    output.replaceChildren(...(report ? uploadReport(report, chosen.name) : []));
    if (refused) {
      showError(refused, dryRun ? 'The dry run accepted nothing' : 'Nothing was imported');
      submit.disabled = true;
      return;
    }
    submit.disabled = !dryRun || !report.counts?.accepted;
    notify(dryRun
      ? `Dry run of ${chosen.name}: ${report.counts.accepted} of ${counted(report.counts.records, 'declaration')} would be stored; nothing was stored yet.`
      : `Imported ${chosen.name} as import run ${report.run_id}: ${counted(report.counts.accepted, 'declaration')} stored, ${report.counts.rejected} rejected.`);
    output.querySelector('h2')?.focus();
  };
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    send(true);
  });
  submit.addEventListener('click', () => send(false));
  view.append(
    h('p', null, 'Check a file first: the dry run validates every record and judges the products as the real import would, and stores nothing. Then submit it.'),
    form, output);
  return null;
}

// The row-level report of POST /api/v1/declarations: counts, the verdicts the products get, the
// products whose status changes and the rejected records with their line, field and product.
function uploadReport(report, fileName) {
  const counts = report.counts ?? {};
  const title = report.dry_run ? `Dry run of ${fileName}: nothing stored` : `Imported ${fileName} (import run ${report.run_id})`;
  const parts = [h('h2', { tabindex: '-1', text: title })];
  if (report.file_error) parts.push(h('p', { class: 'file-error', text: `The file could not be read: ${report.file_error}` }));
  parts.push(h('dl', { class: 'facts upload-counts' }, [
    ['Records read', counts.records], ['Accepted', counts.accepted], ['Rejected', counts.rejected],
    ['New products', counts.new_products], ['New versions', counts.new_versions], ['Unchanged', counts.unchanged],
  ].map(([term, value]) => [h('dt', { text: term }), h('dd', { text: String(value ?? 0), dataset: { count: term } })])));
  const statuses = Object.entries(report.statuses ?? {});
  parts.push(h('h3', { text: report.dry_run ? 'Verdicts the products would get' : 'Verdicts' }),
    statuses.length
      ? h('ul', { class: 'verdicts' }, statuses.map(([status, count]) => h('li', { dataset: { status } }, statusBadge(status), ` ${counted(count, 'product')}`)))
      : h('p', { class: 'muted', text: 'No product was judged.' }));
  const changed = report.changed ?? [];
  if (changed.length) {
    const columns = ['Product', 'Manufacturer', 'Version', 'Change'];
    parts.push(table(`Products whose status ${report.dry_run ? 'would change' : 'changed'}${report.changed_not_listed ? ` (${report.changed_not_listed} more not listed)` : ''}`,
      columns, changed.map((change) => h('tr', { dataset: { productId: change.product_id } },
        labelledCell(columns[0], change.product_id ? productLink(change.product_id, productName(change)) : productName(change)),
        labelledCell(columns[1], change.manufacturer ?? ''),
        labelledCell(columns[2], String(change.version ?? '')),
        labelledCell(columns[3], fromTo(change)))), 'changed stacked'));
  }
  const rejected = report.rejected ?? [];
  if (rejected.length) {
    const columns = ['Record', 'Where', 'Product', 'Field', 'Reason'];
    const rows = rejected.flatMap((record) => (record.issues?.length ? record.issues : [{}]).map((issue) => h('tr', { dataset: { record: record.record } },
      labelledCell(columns[0], String(record.record ?? '')),
      labelledCell(columns[1], issue.line ? `line ${issue.line}` : record.location ?? ''),
      labelledCell(columns[2], record.product ? [record.product.manufacturer, record.product.brand, record.product.model].filter(Boolean).join(' ') : ''),
      labelledCell(columns[3], issue.field ? h('code', null, issue.field) : ''),
      labelledCell(columns[4], issue.reason ?? ''))));
    parts.push(table(`Rejected records${report.rejected_not_listed ? ` (${report.rejected_not_listed} more not listed)` : ''}`, columns, rows, 'rejected stacked'));
  } else if (!report.file_error) {
    parts.push(h('p', { class: 'muted', text: 'No record was rejected.' }));
  }
  // Warnings: records accepted, but declaring a product an earlier record of the file declared.
  const duplicates = report.duplicates ?? [];
  if (duplicates.length) {
    const columns = ['Record', 'Where', 'Product', 'Warning'];
    parts.push(table(`Warnings${report.duplicates_not_listed ? ` (${report.duplicates_not_listed} more not listed)` : ''}`, columns,
      duplicates.map((duplicate) => h('tr', { dataset: { record: duplicate.record } },
        labelledCell(columns[0], String(duplicate.record ?? '')),
        labelledCell(columns[1], duplicate.location ?? ''),
        labelledCell(columns[2], duplicate.product ? [duplicate.product.manufacturer, duplicate.product.brand, duplicate.product.model].filter(Boolean).join(' ') : ''),
        labelledCell(columns[3], duplicate.warning ?? ''))), 'warnings stacked'));
  }
  return parts;
}

// ---------------------------------------------------------------------------------------------
// Dashboard: bar lists, every bar a link to the search (or flag queue) that lists what it counts.

// The first and last day of a quarter "2027-Q1", and the days around it, which the strict
// support_ends_after/before filters take.
function quarterBounds(quarter) {
  const [year, q] = String(quarter).split('-Q').map(Number);
  const start = new Date(Date.UTC(year, (q - 1) * 3, 1));
  const next = new Date(Date.UTC(year, q * 3, 1));
  const before = new Date(start.getTime() - 86_400_000);
  return { after: before.toISOString().slice(0, 10), before: next.toISOString().slice(0, 10) };
}

async function renderDashboard({ view, alive }) {
  document.title = 'Dashboard – iotreg';
  const asOf = h('p', { class: 'summary' }, 'Loading…');
  const grid = h('div', { class: 'charts' });
  view.append(h('h1', { tabindex: '-1', text: 'Dashboard' }), asOf, grid);
  const stats = await api('/api/v1/stats');
  if (!alive()) return;
  const search = (filters) => searchHash(filters);
  const byCount = ([a, x], [b, y]) => y - x || a.localeCompare(b);
  const byStatus = Object.entries(stats.by_status ?? {})
    .sort(([a], [b]) => rank(STATUSES, a) - rank(STATUSES, b) || a.localeCompare(b))
    .map(([key, value]) => ({ key, label: humanStatus(key), value, href: search({ status: key }), className: `status-${cssToken(key)}` }));
  const total = byStatus.reduce((sum, entry) => sum + entry.value, 0);
  asOf.textContent = `${total} registered products${stats.as_of ? `, as of ${stats.as_of}` : ''}. Every bar links to the products (or flags) it counts.`;
  const charts = [chartFigure('Products by status', 'products', byStatus)];
  if (stats.flags_by_state) {
    const queueOf = (state) => FLAG_QUEUES.find((queue) => queue.key === state) ?? FLAG_QUEUES[0];
    charts.push(chartFigure('Flags by state', 'flags', Object.entries(stats.flags_by_state)
      .map(([key, value]) => ({ key, label: key, value, href: flagQueueHash(queueOf(key)), className: `state-${cssToken(key)}` }))));
  }
  if (stats.noncompliant_by_manufacturer) {
    charts.push(chartFigure('Non-compliant products by manufacturer (top 10)', 'non-compliant products',
      stats.noncompliant_by_manufacturer.map((entry) => ({
        key: entry.manufacturer, label: entry.manufacturer, value: entry.products,
        href: search({ manufacturer: entry.manufacturer, status: 'non_compliant' }),
      }))));
  }
  if (stats.non_compliance_by_requirement) {
    charts.push(chartFigure('Non-compliance by requirement', 'products failing it',
      stats.non_compliance_by_requirement.map((entry) => ({
        key: entry.check, label: entry.title ? `${entry.title} (${entry.requirement})` : `${entry.requirement} (${entry.check})`, value: entry.products,
        href: search({ failing: entry.check }),
      }))));
  }
  charts.push(chartFigure('Security-update support ending per quarter', 'products whose support period ends',
    (stats.support_end_by_quarter ?? []).map((entry) => {
      const bounds = quarterBounds(entry.quarter);
      return {
        key: entry.quarter, label: entry.quarter, value: entry.products,
        href: search({ support_ends_after: bounds.after, support_ends_before: bounds.before }),
      };
    })));
  if (stats.by_class) {
    charts.push(chartFigure('Products by class', 'products', Object.entries(stats.by_class).sort(byCount)
      .map(([key, value]) => ({ key, label: key || '(no class)', value, href: key ? search({ class: key }) : null }))));
  }
  charts.push(chartFigure('Products by type', 'products', Object.entries(stats.by_type ?? {}).sort(byCount)
    .map(([key, value]) => ({ key, label: key || '(no type)', value, href: key ? search({ type: key }) : null }))));
  grid.append(...charts);
}

// A chart as a list of bars: each a link (when it has one) named by its text, "label N unit" (the
// unit only for assistive technology: the name holds the visible text, WCAG 2.5.3), its bar an SVG
// rectangle whose width is the value's share of the largest, so no inline style is needed.
function chartFigure(title, unit, data) {
  const captionId = uid('chart');
  const max = data.reduce((most, d) => Math.max(most, d.value), 0);
  const bar = (d) => {
    const width = max ? (100 * d.value) / max : 0;
    const track = svg('svg', { class: 'bar-track', viewBox: '0 0 100 10', preserveAspectRatio: 'none', 'aria-hidden': 'true', focusable: 'false' },
      svg('rect', { class: `bar ${d.className ?? ''}`, x: 0, y: 0, width: width.toFixed(2), height: 10, 'data-label': d.key, 'data-value': d.value }));
    const parts = [
      h('span', { class: 'bar-label', text: d.label }),
      track,
      h('span', { class: 'bar-value' }, String(d.value), h('span', { class: 'visually-hidden', text: ` ${unit}` })),
    ];
    return h('li', null, d.href
      ? h('a', { class: 'bar-row', href: d.href, dataset: { label: d.key } }, parts)
      : h('span', { class: 'bar-row', dataset: { label: d.key } }, parts));
  };
  return h('figure', { class: 'chart', 'aria-labelledby': captionId },
    h('figcaption', { id: captionId, text: title }),
    data.length ? h('ul', { class: 'bar-list' }, data.map(bar)) : h('p', { class: 'muted', text: 'No data.' }));
}

// ---------------------------------------------------------------------------------------------
// Start

async function start() {
  document.getElementById('sign-out').addEventListener('click', signOut);
  document.querySelector('.skip-link').addEventListener('click', skipToContent);
  window.addEventListener('hashchange', onHashChange);
  // A session cookie from an earlier visit signs this page in; without one (401) the sign-in
  // form shows, with no error.
  try {
    session.me = await api('/api/v1/me');
  } catch (error) {
    session.me = null;
    if (error.status !== 401) showError(error, 'Could not reach the registry');
  }
  showSessionChrome();
  route();
}

start();
