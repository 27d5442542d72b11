// The brainstorm viewer: users → a user (chart, snapshots, galleries) → a snapshot's results, read from
// the HTTP API. The location lives in the URL hash (#/users/42/snapshots/3) so that a view can be linked
// and the back button works. A user's snapshots come from one series request (their feelings), however
// many there are; the snapshot list is paged and the gallery asks for small pictures only.
import { ApiError, api, forgetUsers, galleryHash, getJson, h, snapshotHash, userData } from './api.js';
import { FEELINGS, feelingsChart } from './chart.js';
import { colormapChosen, payloadFigure, pictureUrl } from './pictures.js';
import { currentZone, formatTime, setZone, timeElement } from './times.js';

const main = document.querySelector('main');
const errorBox = document.getElementById('error');
const crumbs = document.getElementById('crumbs');
const TITLES = { pose: 'Pose', feelings: 'Feelings', color_image: 'Colour image', depth_image: 'Depth map' };
const ORDER = ['pose', 'feelings', 'color_image', 'depth_image'];  // then any other result, by name
const PICTURED = ['color_image', 'depth_image'];  // the galleries a user page offers
const LIST_PAGE = 50, GALLERY_PAGE = 24, THUMBNAIL = 220;  // CSS pixels wide
const METADATA = ['units', 'scale'];  // field metadata a result may carry (see the README): shown, not listed

const isPayload = (v) => typeof v?.url === 'string' && typeof v?.sha256 === 'string';
const title = (name) => TITLES[name] ?? name;

/** A field's value for people: numbers to 3 decimals (the full value in the cell's title). */
function shown(value) {
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : value.toFixed(3);
  if (value === null || value === undefined) return '—';
  if (typeof value === 'string' && /^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(value)) return formatTime(new Date(value));
  return typeof value === 'object' ? JSON.stringify(value) : String(value);
}

const valueCell = (path, value) => h('td', { 'data-field': path, title: String(value), class: typeof value === 'number' ? 'num' : null }, shown(value));
const withUnit = (name, units) => (typeof units?.[name] === 'string' ? `${name} (${units[name]})` : name);

/** What a result's metadata says about its numbers, for a caption: its scale, if it declares one. */
function about(fields) {
  const scale = fields.scale;
  return Array.isArray(scale) && scale.length === 2 && scale.every(Number.isFinite) ? `On a scale from ${scale[0]} to ${scale[1]}.` : null;
}

/**
 * A result's fields as a table (named `label` for screen readers; the heading above says it for the
 * eye), payloads and metadata left out. Fields that are all objects of plain values (a pose's
 * translation and rotation) make a grid, one column each; anything else a row per dotted path. A
 * field's unit, from the result's `units`, is in its header.
 */
function fieldsTable(fields, label) {
  const units = fields.units;
  const entries = Object.entries(fields).filter(([k, v]) => !isPayload(v) && !METADATA.includes(k));
  if (!entries.length) return null;
  const flat = (v) => v && typeof v === 'object' && !Array.isArray(v) && !isPayload(v)
    && Object.values(v).every((x) => typeof x !== 'object' || x === null);
  if (entries.every(([, v]) => flat(v))) {
    const rows = [...new Set(entries.flatMap(([, v]) => Object.keys(v)))];
    return h('table', { 'aria-label': label },
      h('thead', {}, h('tr', {}, h('td'), entries.map(([name]) => h('th', { scope: 'col' }, withUnit(name, units))))),
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
    h('tbody', {}, rows.map(([path, value]) => h('tr', {}, h('th', { scope: 'row' }, withUnit(path, units)), valueCell(path, value)))));
}

function resultSection(userId, name, result, error, snapshotId) {
  const heading = title(name);
  const section = h('section', { class: `result result-${name}`, 'aria-label': heading }, h('h3', {}, heading));
  if (error) {
    section.append(h('p', { class: 'error' }, `Could not load it: ${error.message}`));
    return section;
  }
  section.append(fieldsTable(result.fields, `${heading} of snapshot ${snapshotId}`) ?? '', about(result.fields) ? h('p', { class: 'about' }, about(result.fields)) : '');
  for (const [key, payload] of Object.entries(result.payloads)) {
    const unit = typeof result.fields.units?.[key.split('.').at(-1)] === 'string' ? result.fields.units[key.split('.').at(-1)] : null;
    const userRange = async () => {
      const range = (await userData(userId).series(name)).ranges[key];
      return range && range.maximum > range.minimum ? [range.minimum, range.maximum] : null;
    };
    section.append(payloadFigure(key, payload, { alt: `${heading} of snapshot ${snapshotId}`, unit, userRange }));
  }
  return section;
}

/** The chart of a user's feelings, from their series; `current` marked. */
function chartSection(userId, series, username, current) {
  const points = series.snapshots.map((s) => ({ snapshot_id: s.snapshot_id, time: Date.parse(s.datetime), feelings: s.fields }));
  const missing = points.filter((p) => p.feelings === null).length;
  const chart = feelingsChart(points, { current, open: (id) => { location.hash = snapshotHash(userId, id); },
    label: `Feelings of ${username} over ${points.length} snapshots${current === null ? '' : `; snapshot ${current} marked`}` });
  const legend = h('ul', { class: 'legend' }, Object.entries(FEELINGS).map(([f, colour]) => {
    const swatch = h('span', { class: 'swatch' });
    swatch.style.background = colour;  // through the CSSOM, which the Content-Security-Policy allows
    return h('li', {}, swatch, f);
  }));
  const section = h('section', { class: 'chart-section', 'aria-label': 'Feelings over time' },
    h('h3', {}, 'Feelings over time'), chart.element,
    h('p', { class: 'hint' }, 'Drag across the chart to zoom into a span of time; click to open the nearest snapshot.'),
    legend, missing ? h('p', {}, `${missing} of ${points.length} snapshots have no feelings.`) : '');
  return { section, draw: chart.draw };
}

/** A list of items shown a page at a time, with buttons to move between pages. */
function pagedList(items, perPage, item, { label, start = 0 }) {
  const list = h('ol', { class: 'snapshots' });
  const status = h('span', { class: 'page-status' });
  let first = Math.floor(start / perPage) * perPage;
  const older = h('button', { type: 'button', onclick: () => { first -= perPage; draw(); } }, '‹ Earlier');
  const newer = h('button', { type: 'button', onclick: () => { first += perPage; draw(); } }, 'Later ›');
  const draw = () => {
    list.setAttribute('start', String(first + 1));
    list.replaceChildren(...items.slice(first, first + perPage).map(item));
    status.textContent = `${first + 1}–${Math.min(first + perPage, items.length)} of ${items.length}`;
    older.disabled = first <= 0;
    newer.disabled = first + perPage >= items.length;
  };
  draw();
  return h('div', { class: 'paged', 'aria-label': label }, list, items.length > perPage ? h('div', { class: 'pager' }, older, status, newer) : '');
}

// ---- The views: each returns {element, title, crumbs, after}; `after` runs once the view is shown

async function usersView(signal) {
  forgetUsers();  // back at the start: show fresh data from here on
  const users = await getJson(api('users'), signal);
  const list = users.length
    ? h('ul', { class: 'users' }, users.map((u) => h('li', {}, h('a', { href: `#/users/${u.user_id}` }, u.username ?? `User ${u.user_id}`), ` (#${u.user_id})`)))
    : h('p', {}, 'The database holds no users yet.');
  return { element: h('section', {}, h('h2', {}, 'Users'), list), title: 'Users', crumbs: [] };
}

async function userView(userId) {
  const data = userData(userId);
  const [user, series] = await Promise.all([data.user(), data.series('feelings')]);
  const name = user.username ?? `User ${userId}`;
  const snapshots = series.snapshots;
  const chart = snapshots.length ? chartSection(userId, series, name, null) : null;
  const element = h('div', {}, h('h2', {}, name),
    h('section', { 'aria-label': 'Details' }, fieldsTable(user, `Details of ${name}`)),
    chart?.section,
    h('section', { 'aria-label': 'Snapshots' }, h('h3', {}, `Snapshots (${snapshots.length})`),
      snapshots.length
        ? [h('p', { class: 'galleries' }, 'Galleries: ', PICTURED.map((r, i) => [i ? ' · ' : '', h('a', { href: galleryHash(userId, r) }, title(r))])),
          pagedList(snapshots, LIST_PAGE, (s) => h('li', {}, h('a', { href: snapshotHash(userId, s.snapshot_id) }, `Snapshot ${s.snapshot_id}`), ' — ', timeElement(h, s.datetime)), { label: 'Snapshot list' })]
        : h('p', {}, 'No snapshots yet.')));
  return { element, title: name, crumbs: [[name, `#/users/${userId}`]], after: chart?.draw };
}

async function snapshotView(userId, snapshotId, signal) {
  const data = userData(userId);
  const [user, series, snapshot] = await Promise.all([
    data.user(), data.series('feelings'), getJson(api('users', userId, 'snapshots', snapshotId), signal)]);
  const name = user.username ?? `User ${userId}`;
  const snapshots = series.snapshots;
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
  const chart = chartSection(userId, series, name, snapshotId);
  const element = h('div', { class: 'snapshot-view' },
    h('div', { class: 'snapshot-head' },
      h('div', {}, h('h2', {}, `Snapshot ${snapshotId}`),
        h('p', { class: 'meta' }, timeElement(h, snapshot.datetime),
          index >= 0 ? ` · ${index + 1} of ${snapshots.length}` : '', index >= 0 ? h('span', { class: 'keys-hint' }, ' · ← → to step') : '',
          index >= 0 ? h('span', { class: 'touch-hint' }, ' · swipe to step') : '')),
      h('div', { class: 'steps' }, step(-1), step(+1))),
    h('div', { class: 'results' }, names.map((result, i) => resultSection(userId, result, ...results[i], snapshotId))),
    chart.section);
  return { element, title: `Snapshot ${snapshotId} · ${name}`, after: chart.draw,
    crumbs: [[name, `#/users/${userId}`], [`Snapshot ${snapshotId}`, snapshotHash(userId, snapshotId)]] };
}

async function galleryView(userId, resultName, page) {
  const data = userData(userId);
  const [user, series] = await Promise.all([data.user(), data.series(resultName)]);
  const name = user.username ?? `User ${userId}`;
  const entries = series.snapshots.filter((s) => s.pictures && Object.keys(s.pictures).length);
  const pages = Math.max(1, Math.ceil(entries.length / GALLERY_PAGE));
  const current = Math.min(Math.max(1, page), pages);
  const shownEntries = entries.slice((current - 1) * GALLERY_PAGE, current * GALLERY_PAGE);
  const [key] = shownEntries.length ? Object.keys(shownEntries[0].pictures) : [];
  const whole = series.ranges[key];
  const range = whole && whole.maximum > whole.minimum ? [whole.minimum, whole.maximum] : null;  // one scale for the grid
  const width = Math.round(THUMBNAIL * (window.devicePixelRatio || 1));
  const grid = h('ol', { class: 'gallery', start: (current - 1) * GALLERY_PAGE + 1 }, shownEntries.map((s) => {
    const src = pictureUrl(s.pictures[key], { width, ...(range ? { range, colormap: colormapChosen() } : {}) });
    return h('li', {}, h('a', { href: snapshotHash(userId, s.snapshot_id) },
      h('img', { src, alt: `${title(resultName)} of snapshot ${s.snapshot_id}`, loading: 'lazy', width: THUMBNAIL }),
      h('span', {}, `Snapshot ${s.snapshot_id}`), timeElement(h, s.datetime)));
  }));
  const go = (to) => { location.hash = galleryHash(userId, resultName, to); };
  const slider = h('input', { type: 'range', min: 1, max: pages, value: current, 'aria-label': 'Page, by time',
    onchange: (event) => go(Number(event.target.value)) });
  const sliderLabel = h('output', {}, shownEntries.length ? `${formatTime(new Date(shownEntries[0].datetime))} → ${formatTime(new Date(shownEntries.at(-1).datetime))}` : '');
  slider.addEventListener('input', () => {
    const at = entries[(Number(slider.value) - 1) * GALLERY_PAGE];
    if (at) sliderLabel.textContent = `from ${formatTime(new Date(at.datetime))}`;
  });
  const element = h('div', {}, h('h2', {}, `${title(resultName)} · ${name}`),
    entries.length
      ? [h('div', { class: 'gallery-bar' },
          h('button', { type: 'button', id: 'previous', disabled: current <= 1, onclick: () => go(current - 1) }, '← Earlier'),
          h('label', { class: 'slider' }, `Page ${current} of ${pages} `, slider, sliderLabel),
          h('button', { type: 'button', id: 'next', disabled: current >= pages, onclick: () => go(current + 1) }, 'Later →')),
        grid]
      : h('p', {}, `No snapshot of ${name} has a ${title(resultName).toLowerCase()} picture.`));
  return { element, title: `${title(resultName)} · ${name}`,
    crumbs: [[name, `#/users/${userId}`], [title(resultName), galleryHash(userId, resultName, current)]] };
}

// ---- Routing

let showing = null;  // the AbortController of the view being built

async function route() {
  showing?.abort();
  const controller = (showing = new AbortController());
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter(Boolean);
  const id = (s) => (/^\d+$/.test(s ?? '') ? Number(s) : NaN);
  const focused = document.activeElement?.id;  // kept across the redraw (the step buttons)
  main.setAttribute('aria-busy', 'true');
  try {
    let view;
    if (parts.length === 0) view = await usersView(controller.signal);
    else if (parts[0] !== 'users' || !(id(parts[1]) >= 0)) throw new ApiError(`there is no page ${location.hash}`, 404);
    else if (parts.length === 2) view = await userView(id(parts[1]));
    else if (parts.length === 4 && parts[2] === 'snapshots' && id(parts[3]) >= 0) view = await snapshotView(id(parts[1]), id(parts[3]), controller.signal);
    else if ((parts.length === 4 || parts.length === 5) && parts[2] === 'gallery') view = await galleryView(id(parts[1]), decodeURIComponent(parts[3]), id(parts[4] ?? '1') || 1);
    else throw new ApiError(`there is no page ${location.hash}`, 404);
    if (controller.signal.aborted) return;
    errorBox.hidden = true;
    main.replaceChildren(view.element);
    document.title = `${view.title} · brainstorm`;
    crumbs.replaceChildren(...[['Users', '#/'], ...view.crumbs].map(([text, href], i, all) =>
      h('li', {}, h('a', { href, 'aria-current': i === all.length - 1 ? 'page' : null }, text))));
    if (focused) document.getElementById(focused)?.focus();
    redraw = view.after ?? null;
    redraw?.();
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

// ← and → step through the snapshots (and the gallery's pages), through the buttons (so a disabled one
// does nothing); keys with modifiers are left alone (Alt+← is the browser's back), and so are keys typed
// into a form control or pressed while a dialog is open.
function stepBy(by) {
  const button = document.getElementById(by);
  if (button && !button.disabled) { button.click(); return true; }
  return false;
}
document.addEventListener('keydown', (event) => {
  const by = { ArrowLeft: 'previous', ArrowRight: 'next' }[event.key];
  if (!by || event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
  if (event.target.closest?.('input, textarea, select, [contenteditable], dialog')) return;
  if (stepBy(by)) event.preventDefault();
});
// A swipe across a snapshot (on a touch screen) steps like the keys: left for the next, right for the previous.
let touch = null;
main.addEventListener('touchstart', (event) => { touch = event.touches.length === 1 ? [event.touches[0].clientX, event.touches[0].clientY] : null; }, { passive: true });
main.addEventListener('touchend', (event) => {
  const end = event.changedTouches[0];
  if (!touch || !end) return;
  const dx = end.clientX - touch[0], dy = end.clientY - touch[1];
  touch = null;
  if (Math.abs(dx) > 60 && Math.abs(dy) < Math.abs(dx) / 2) stepBy(dx < 0 ? 'next' : 'previous');
});

// The zone switch in the header: local time (the default) or UTC, kept for the next visit.
const zone = document.getElementById('zone');
zone.value = currentZone();
zone.addEventListener('change', () => { setZone(zone.value); route(); });
// The chart is drawn at the width it is shown at: drawn again when that changes.
let redraw = null, resized = null;
window.addEventListener('resize', () => { clearTimeout(resized); resized = setTimeout(() => redraw?.(), 200); });

window.addEventListener('hashchange', route);
route();
