// The brainstorm viewer: users → a user's snapshots → a snapshot's results, read from the HTTP API.
// The location lives in the URL hash (#/users/42/snapshots/3) so that a view can be linked and the
// back button works. Every API URL is relative to the page, which is the app's root, so the viewer
// also works with the app mounted under a prefix. Stored text only ever enters the page as text
// (textContent, text nodes, attribute values), never as HTML.
import { FEELINGS, feelingsChart } from './chart.js';

const main = document.querySelector('main');
const errorBox = document.getElementById('error');
const crumbs = document.getElementById('crumbs');
const CONCURRENCY = 4;  // feelings requests in flight at once, for the chart of a user's snapshots
const TITLES = { pose: 'Pose', feelings: 'Feelings', color_image: 'Colour image', depth_image: 'Depth map' };
const ORDER = ['pose', 'feelings', 'color_image', 'depth_image'];  // then any other result, by name

// ---- Talking to the API

class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

/** An API URL from path segments, each encoded (ids come from the hash, names from the API). */
const api = (...segments) => new URL(segments.map((s) => encodeURIComponent(s)).join('/'), document.baseURI);

/** A URL the API gave (it includes the app's prefix), refused unless it stays on this server. */
function sameOrigin(url) {
  const resolved = new URL(url, document.baseURI);
  if (resolved.origin !== location.origin) throw new ApiError(`refusing a URL off this server: ${url}`, 0);
  return resolved.href;
}

/** The JSON at `url`; a failure becomes an ApiError carrying the API's `detail` message. */
async function getJson(url, signal) {
  let response;
  try {
    response = await fetch(url, { signal, headers: { Accept: 'application/json' } });
  } catch (error) {
    if (error.name === 'AbortError') throw error;
    throw new ApiError(`cannot reach the server (${error.message})`, 0);
  }
  const text = await response.text();
  let body;
  try { body = JSON.parse(text); } catch { body = undefined; }
  if (!response.ok) {
    const detail = body?.detail ?? (text.trim().slice(0, 200) || response.statusText);
    throw new ApiError(`${response.status}: ${typeof detail === 'string' ? detail : JSON.stringify(detail)}`, response.status);
  }
  if (body === undefined) throw new ApiError(`the reply to ${url} is not JSON`, response.status);
  return body;
}

/** fn over items with at most `limit` calls pending; the first failure stops the rest. */
async function mapLimited(items, limit, fn) {
  const results = [];
  let next = 0, failed = false;
  const worker = async () => {
    while (next < items.length && !failed) {
      const i = next++;
      try { results[i] = await fn(items[i], i); } catch (error) { failed = true; throw error; }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

// The user being looked at: stepping through their snapshots reuses these. They are not tied to one
// view's requests (a view left early does not cancel them), and a failure is not kept.
let cached = { userId: null };
function userData(userId) {
  if (cached.userId !== userId) cached = { userId };
  const store = cached;
  const keep = (name, load) => {
    if (!store[name]) {
      const loading = (store[name] = load());
      loading.catch(() => { if (store[name] === loading) delete store[name]; });
    }
    return store[name];
  };
  const data = {
    user: () => keep('user', () => getJson(api('users', userId))),
    snapshots: () => keep('snapshots', () => getJson(api('users', userId, 'snapshots'))),
    // Each snapshot's feelings (null where it has none), for the chart.
    feelings: () => keep('feelings', async () => mapLimited(await data.snapshots(), CONCURRENCY, (s) =>
      getJson(api('users', userId, 'snapshots', s.snapshot_id, 'feelings'))
        .then((result) => result.fields, (error) => { if (error.status === 404) return null; throw error; }))),
  };
  return data;
}

// ---- Building the page

/** h('td', {class: 'x'}, 'text', child): an element; strings become text nodes, never HTML. */
function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else if (value != null && value !== false) element.setAttribute(name, String(value));
  }
  element.append(...children.flat().filter((c) => c != null && c !== false));
  return element;
}

const snapshotHash = (userId, snapshotId) => `#/users/${userId}/snapshots/${snapshotId}`;
const isPayload = (v) => typeof v?.url === 'string' && typeof v?.sha256 === 'string';

/** "2019-12-04 10:08:07.381 UTC" from the API's ISO 8601; anything else as it is. */
function when(iso) {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toISOString().replace('T', ' ').replace('Z', ' UTC');
}

/** A field's value for people: numbers to 3 decimals (the full value in the cell's title). */
function shown(value) {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(3);
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(value)) return when(value);
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

function bytes(n) {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0, v = n;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return i === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

const valueCell = (path, value) => h('td', { 'data-field': path, title: String(value), class: typeof value === 'number' ? 'num' : null }, shown(value));

/**
 * A result's fields as a table (named `label` for screen readers; the heading above says it for the
 * eye), payloads left out: they are figures. Fields that are all objects of plain values (a pose's
 * translation and rotation) make a grid, one column each; anything else a row per dotted path.
 */
function fieldsTable(fields, label) {
  const entries = Object.entries(fields).filter(([, v]) => !isPayload(v));
  if (!entries.length) return null;
  const flat = (v) => v && typeof v === 'object' && !Array.isArray(v) && !isPayload(v)
    && Object.values(v).every((x) => typeof x !== 'object' || x === null);
  if (entries.every(([, v]) => flat(v))) {
    const rows = [...new Set(entries.flatMap(([, v]) => Object.keys(v)))];
    return h('table', { 'aria-label': label },
      h('thead', {}, h('tr', {}, h('td'), entries.map(([name]) => h('th', { scope: 'col' }, name)))),
      h('tbody', {}, rows.map((row) => h('tr', {}, h('th', { scope: 'row' }, row),
        entries.map(([name, v]) => (row in v ? valueCell(`${name}.${row}`, v[row]) : h('td')))))));
  }
  const rows = [];
  const walk = (value, path) => {
    if (isPayload(value)) return;
    if (value && typeof value === 'object' && Object.keys(value).length) {
      for (const [k, v] of Object.entries(value)) walk(v, path ? `${path}.${k}` : k);
    } else rows.push([path, value]);
  };
  walk(Object.fromEntries(entries), '');
  return h('table', { 'aria-label': label },
    h('tbody', {}, rows.map(([path, value]) => h('tr', {}, h('th', { scope: 'row' }, path), valueCell(path, value)))));
}

/** A payload: its picture (if it has one), size, sha256 and a download link. */
function payloadFigure(key, payload, alt, legend) {
  const figure = h('figure', { class: 'payload' });
  if (payload.picture_url) {
    const src = sameOrigin(payload.picture_url);
    // An <img> cannot read the API's error message: ask once more, to show it.
    const broken = async () => {
      let why = 'it did not load';
      try {
        const response = await fetch(src);
        if (!response.ok) why = `${response.status}: ${(await response.json().catch(() => null))?.detail ?? response.statusText}`;
      } catch (error) { why = error.message; }
      img.replaceWith(h('p', { class: 'error' }, `Could not show the ${alt.toLowerCase()}: ${why}`));
    };
    const img = h('img', { src, alt, onerror: broken });
    figure.append(img);
  }
  figure.append(h('figcaption', {}, legend,
    h('dl', {},
      h('dt', {}, 'Payload'), h('dd', {}, h('code', {}, key), ` (${payload.content_type})`),
      h('dt', {}, 'Size'), h('dd', { title: `${payload.length} bytes` }, bytes(payload.length)),
      h('dt', {}, 'SHA-256'), h('dd', {}, h('code', { title: payload.sha256, class: 'sha' }, `${payload.sha256.slice(0, 12)}…`))),
    h('a', { href: sameOrigin(payload.url), download: '', class: 'download' }, `Download ${key}`)));
  return figure;
}

function resultSection(name, result, error, snapshotId) {
  const heading = TITLES[name] ?? name;
  const section = h('section', { class: `result result-${name}`, 'aria-label': heading }, h('h3', {}, heading));
  if (error) {
    section.append(h('p', { class: 'error' }, `Could not load it: ${error.message}`));
    return section;
  }
  section.append(fieldsTable(result.fields, `${heading} of snapshot ${snapshotId}`) ?? '');
  for (const [key, payload] of Object.entries(result.payloads)) {
    const depth = name === 'depth_image';
    const alt = `${heading} of snapshot ${snapshotId}${depth ? ', colour-mapped from dark blue (near) to dark red (far)' : ''}`;
    section.append(payloadFigure(key, payload, alt, depth ? h('div', { class: 'turbo', 'aria-hidden': 'true' }, h('span', {}, 'near'), h('span', {}, 'far')) : null));
  }
  return section;
}

/** A legend's colour: set through the CSSOM, which a Content-Security-Policy without 'unsafe-inline' allows. */
function swatch(colour) {
  const span = h('span', { class: 'swatch' });
  span.style.background = colour;
  return span;
}

/** The chart's section: drawn once the feelings of every snapshot have come (they are cached). */
function chartSection(userId, username, current) {
  const status = h('p', {}, 'Loading the feelings of every snapshot…');
  const section = h('section', { class: 'chart-section', 'aria-label': 'Feelings over the snapshots' },
    h('h3', {}, 'Feelings over the snapshots'), status);
  const drawn = Promise.all([userData(userId).snapshots(), userData(userId).feelings()]).then(([snapshots, feelings]) => {
    const series = snapshots.map((s, i) => ({ snapshot_id: s.snapshot_id, datetime: when(s.datetime), feelings: feelings[i] }));
    const missing = feelings.filter((f) => f === null).length;
    status.replaceWith(h('figure', {},
      feelingsChart(series, { current, href: (id) => snapshotHash(userId, id),
        label: `Feelings of ${username} over ${series.length} snapshots, from −1 to 1${current === null ? '' : `; snapshot ${current} marked`}` }),
      h('figcaption', {}, h('ul', { class: 'legend' }, Object.entries(FEELINGS).map(([f, colour]) =>
        h('li', {}, swatch(colour), f))),
        missing ? ` ${missing} of ${series.length} snapshots have no feelings.` : '')));
  }, (error) => status.replaceWith(h('p', { class: 'error' }, `Could not load the feelings: ${error.message}`)));
  return { section, drawn };
}

// ---- The views: each returns {element, title, crumbs, pending}; `pending` settles once fully drawn

async function usersView(signal) {
  cached = { userId: null };  // back at the start: show fresh data from here on
  const users = await getJson(api('users'), signal);
  const list = users.length
    ? h('ul', { class: 'users' }, users.map((u) => h('li', {}, h('a', { href: `#/users/${u.user_id}` }, u.username ?? `User ${u.user_id}`), ` (#${u.user_id})`)))
    : h('p', {}, 'The database holds no users yet.');
  return { element: h('section', {}, h('h2', {}, 'Users'), list), title: 'Users', crumbs: [] };
}

async function userView(userId) {
  const data = userData(userId);
  const [user, snapshots] = await Promise.all([data.user(), data.snapshots()]);
  const name = user.username ?? `User ${userId}`;
  const chart = snapshots.length ? chartSection(userId, name, null) : null;
  const element = h('div', {}, h('h2', {}, name),
    h('section', { 'aria-label': 'Details' }, fieldsTable(user, `Details of ${name}`)),
    h('section', { 'aria-label': 'Snapshots' }, h('h3', {}, `Snapshots (${snapshots.length})`),
      snapshots.length
        ? h('ol', { class: 'snapshots' }, snapshots.map((s) => h('li', {},
          h('a', { href: snapshotHash(userId, s.snapshot_id) }, `Snapshot ${s.snapshot_id}`), ` — ${when(s.datetime)}`)))
        : h('p', {}, 'No snapshots yet.')),
    chart?.section);
  return { element, title: name, crumbs: [[name, `#/users/${userId}`]], pending: chart?.drawn };
}

async function snapshotView(userId, snapshotId, signal) {
  const data = userData(userId);
  const [user, snapshots, snapshot] = await Promise.all([
    data.user(), data.snapshots(), getJson(api('users', userId, 'snapshots', snapshotId), signal)]);
  const name = user.username ?? `User ${userId}`;
  const names = [...snapshot.available_results].sort((a, b) =>
    ((ORDER.indexOf(a) + 1 || 99) - (ORDER.indexOf(b) + 1 || 99)) || a.localeCompare(b));
  const results = await Promise.all(names.map((result) =>
    getJson(api('users', userId, 'snapshots', snapshotId, result), signal).then((r) => [r, null], (e) => {
      if (e.name === 'AbortError') throw e;
      return [null, e];
    })));

  const index = snapshots.findIndex((s) => s.snapshot_id === snapshotId);
  const step = (by) => {
    const target = index >= 0 ? snapshots[index + by] : undefined;  // newer than the list kept: no steps
    return h('button', { type: 'button', id: by < 0 ? 'previous' : 'next', disabled: !target,
      'aria-keyshortcuts': by < 0 ? 'ArrowLeft' : 'ArrowRight',
      onclick: () => { location.hash = snapshotHash(userId, target.snapshot_id); } },
    by < 0 ? '← Previous' : 'Next →');
  };
  const chart = chartSection(userId, name, snapshotId);
  const element = h('div', {},
    h('div', { class: 'snapshot-head' },
      h('div', {}, h('h2', {}, `Snapshot ${snapshotId}`),
        h('p', { class: 'meta' }, h('time', { datetime: snapshot.datetime }, when(snapshot.datetime)),
          index >= 0 ? ` · ${index + 1} of ${snapshots.length} · ← → to step` : '')),
      h('div', { class: 'steps' }, step(-1), step(+1))),
    h('div', { class: 'results' }, names.map((result, i) => resultSection(result, ...results[i], snapshotId)), chart.section));
  return { element, title: `Snapshot ${snapshotId} · ${name}`, pending: chart.drawn,
    crumbs: [[name, `#/users/${userId}`], [`Snapshot ${snapshotId}`, snapshotHash(userId, snapshotId)]] };
}

// ---- Routing

let showing = null;  // the AbortController of the view being built

async function route() {
  showing?.abort();
  const controller = (showing = new AbortController());
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const id = (s) => (/^\d+$/.test(s) ? Number(s) : NaN);
  const focused = document.activeElement?.id;  // kept across the redraw (the step buttons)
  main.setAttribute('aria-busy', 'true');
  try {
    let view;
    if (parts.length === 0) view = await usersView(controller.signal);
    else if (parts.length === 2 && parts[0] === 'users' && id(parts[1]) >= 0) view = await userView(id(parts[1]));
    else if (parts.length === 4 && parts[0] === 'users' && parts[2] === 'snapshots' && id(parts[1]) >= 0 && id(parts[3]) >= 0)
      view = await snapshotView(id(parts[1]), id(parts[3]), controller.signal);
    else throw new ApiError(`there is no page ${location.hash}`, 404);
    if (controller.signal.aborted) return;
    errorBox.hidden = true;
    main.replaceChildren(view.element);
    document.title = `${view.title} · brainstorm`;
    crumbs.replaceChildren(...[['Users', '#/'], ...view.crumbs].map(([text, href], i, all) =>
      h('li', {}, h('a', { href, 'aria-current': i === all.length - 1 ? 'page' : null }, text))));
    if (focused) document.getElementById(focused)?.focus();
    await view.pending;
  } catch (error) {
    if (controller.signal.aborted) return;
    errorBox.replaceChildren(h('strong', {}, 'Could not show this page. '), error.message ?? String(error));
    errorBox.hidden = false;
    main.replaceChildren(h('p', {}, h('a', { href: '#/' }, 'Back to the users')));
    crumbs.replaceChildren(h('li', {}, h('a', { href: '#/' }, 'Users')));
    document.title = 'Error · brainstorm';
    if (!(error instanceof ApiError)) console.error(error);  // a bug here, not an answer of the API
  } finally {
    if (showing === controller) main.setAttribute('aria-busy', 'false');
  }
}

// ← and → step through the snapshots, through the buttons (so a disabled one does nothing); keys with
// modifiers are left alone (Alt+← is the browser's back), and so are keys typed into a form control.
document.addEventListener('keydown', (event) => {
  const by = { ArrowLeft: 'previous', ArrowRight: 'next' }[event.key];
  if (!by || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
  if (event.target.closest?.('input, textarea, select, [contenteditable]')) return;
  const button = document.getElementById(by);
  if (button && !button.disabled) {
    event.preventDefault();
    button.click();
  }
});

window.addEventListener('hashchange', route);
route();
