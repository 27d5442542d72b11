// Payloads as pictures: fitted to their card at the screen's pixel density, opened full size (zoom with
// the wheel or the buttons, pan by dragging, Esc closes), and for arrays (depth maps) a colour bar with
// numbers and the unit the result declares, the value under the pointer, and a choice of colormap and
// of range (the same for all of a user's snapshots, so stepping compares like with like, or this
// snapshot's own). Pictures are rendered by the API (`?as=png`, `width=` for the size shown).
import { api, h, sameOrigin } from './api.js';

export const COLORMAPS = ['turbo', 'gray'];
const SIZES = 128;  // widths asked for are rounded up to a multiple of this: a few cached sizes, not one per pixel
let choice = { colormap: 'turbo', range: 'user' };  // kept across snapshots, like the zone
export const colormapChosen = () => choice.colormap;

/** The picture's URL for the given width (device pixels) and, for an array, colormap and range. */
export function pictureUrl(picture, { width, colormap, range } = {}) {
  const url = sameOrigin(picture);
  if (width) url.searchParams.set('width', String(Math.min(4096, Math.ceil(width / SIZES) * SIZES)));
  if (colormap) url.searchParams.set('colormap', colormap);
  if (range) { url.searchParams.set('vmin', String(range[0])); url.searchParams.set('vmax', String(range[1])); }
  return url.href;
}

function bytes(n) {
  const units = ['bytes', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0, v = n;
  for (; v >= 1024 && i < units.length - 1; i++) v /= 1024;
  return i === 0 ? `${n} bytes` : `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

/** Round tick values across [low, high]: about five, at 1, 2 or 5 times a power of ten. */
export function ticks(low, high) {
  if (!(high > low)) return [low];
  const raw = (high - low) / 5, power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  const found = [];
  for (let v = Math.ceil(low / step) * step; v <= high + step * 1e-9; v += step) found.push(+v.toFixed(12));
  return found;
}

const number = (v) => (Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v * 1000) / 1000) : v.toPrecision(3));

// ---- .npy, read in the page for the value under the pointer (fetched on the first hover only)

const DTYPES = { f: { 4: 'Float32', 8: 'Float64' }, i: { 1: 'Int8', 2: 'Int16', 4: 'Int32', 8: 'BigInt64' }, u: { 1: 'Uint8', 2: 'Uint16', 4: 'Uint32', 8: 'BigUint64' }, b: { 1: 'Uint8' } };

/** {shape, fortran, at(row, column)} of a 2-D .npy array's bytes; null for any other. */
export function parseNpy(buffer) {
  const view = new DataView(buffer);
  const major = view.getUint8(6);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = (major === 1 ? 10 : 12);
  const header = new TextDecoder('latin1').decode(new Uint8Array(buffer, start, headerLength));
  const descr = /'descr':\s*'([<>|=])([a-z])(\d+)'/.exec(header);
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1].split(',').map((s) => s.trim()).filter(Boolean).map(Number);
  const fortran = /'fortran_order':\s*True/.test(header);
  if (!descr || !shape || shape.length < 2 || (shape.length === 3 && shape[2] !== 1) || shape.length > 3) return null;
  const [, order, kind, size] = descr;
  const getter = DTYPES[kind]?.[size];
  if (!getter) return null;
  const little = order !== '>', data = start + headerLength, [rows, columns] = shape, width = Number(size);
  return {
    shape: [rows, columns],
    at(row, column) {
      const index = fortran ? column * rows + row : row * columns + column;
      return Number(view[`get${getter}`](data + index * width, little));
    },
  };
}

// ---- The full-size picture

let lightbox = null;

/** Open `src` full size in a dialog: wheel or buttons zoom, dragging pans, Esc (or Close) closes. */
export function openFullSize(src, alt, readoutFor) {
  lightbox?.close();
  let scale = 1, dx = 0, dy = 0, drag = null;
  const img = h('img', { src, alt, class: 'full', draggable: 'false' });
  const place = () => { img.style.transform = `translate(${dx}px, ${dy}px) scale(${scale})`; };
  const zoom = (factor) => { scale = Math.min(32, Math.max(0.1, scale * factor)); place(); };
  const readout = h('p', { class: 'value-readout', 'aria-live': 'polite' });
  const stage = h('div', { class: 'stage' }, img);
  const dialog = h('dialog', { class: 'lightbox', 'aria-label': `${alt}, full size` },
    h('div', { class: 'lightbox-bar' },
      h('button', { type: 'button', onclick: () => zoom(1.25), title: 'Zoom in' }, '+'),
      h('button', { type: 'button', onclick: () => zoom(0.8), title: 'Zoom out' }, '−'),
      h('button', { type: 'button', onclick: () => { scale = 1; dx = dy = 0; place(); }, title: 'Actual size' }, '1:1'),
      readout,
      h('button', { type: 'button', class: 'close', onclick: () => dialog.close() }, 'Close')),
    stage);
  stage.addEventListener('wheel', (event) => { event.preventDefault(); zoom(event.deltaY < 0 ? 1.15 : 1 / 1.15); }, { passive: false });
  stage.addEventListener('pointerdown', (event) => { drag = [event.clientX - dx, event.clientY - dy]; stage.setPointerCapture(event.pointerId); });
  stage.addEventListener('pointermove', (event) => {
    if (drag) { dx = event.clientX - drag[0]; dy = event.clientY - drag[1]; place(); }
    readoutFor?.(img, event, readout);
  });
  stage.addEventListener('pointerup', () => { drag = null; });
  dialog.addEventListener('close', () => { dialog.remove(); if (lightbox === dialog) lightbox = null; });
  document.body.append(dialog);
  lightbox = dialog;
  dialog.showModal();
  return dialog;
}

// ---- A payload's figure

/**
 * A payload: its picture (if it has one) fitted to its card, size, sha256 and download links.
 * options: {alt, unit, userRange: () => Promise<[low, high] | null>} (the last two for arrays).
 */
export function payloadFigure(key, payload, { alt, unit = null, userRange = null }) {
  const figure = h('figure', { class: 'payload' });
  const isArray = payload.kind === 'ndarray';
  const links = h('p', { class: 'downloads' });
  if (payload.picture_url) {
    const frame = h('div', { class: 'picture-frame' });
    const controls = isArray ? h('div', { class: 'picture-controls' }) : null;
    const bar = isArray ? h('div', { class: 'colour-bar' }) : null;
    const readout = isArray ? h('p', { class: 'value-readout', 'aria-live': 'polite' }, 'Point at the picture for its value.') : null;
    figure.append(...[controls, frame, bar, readout].filter(Boolean));
    let array = null;  // the values, fetched on the first hover
    const valueAt = async (img, event, out) => {
      if (!isArray) return;
      const box = img.getBoundingClientRect();
      if (!array) array = fetch(sameOrigin(payload.url)).then((r) => (r.ok ? r.arrayBuffer() : null)).then((b) => b && parseNpy(b));
      const values = await array;
      if (!values) return;
      const [rows, columns] = values.shape;
      const column = Math.floor(((event.clientX - box.left) / box.width) * columns), row = Math.floor(((event.clientY - box.top) / box.height) * rows);
      if (row < 0 || column < 0 || row >= rows || column >= columns) { out.textContent = ''; return; }
      const v = values.at(row, column);
      out.textContent = `${Number.isFinite(v) ? number(v) : v}${unit && Number.isFinite(v) ? ` ${unit}` : ''} at column ${column}, row ${row}`;
    };
    const show = async () => {
      const range = isArray ? (choice.range === 'user' ? await userRange?.() : null) ?? ownRange(payload) : null;
      const width = Math.round((frame.clientWidth || 320) * (window.devicePixelRatio || 1));
      const src = pictureUrl(payload.picture_url, isArray ? { width, colormap: choice.colormap, range } : { width });
      const full = pictureUrl(payload.picture_url, isArray ? { colormap: choice.colormap, range } : {});
      const img = h('img', { src, alt, title: 'Click to open it full size' });
      img.addEventListener('error', () => broken(img, src, alt));
      img.addEventListener('click', () => openFullSize(full, alt, valueAt));
      if (isArray) img.addEventListener('pointermove', (event) => valueAt(img, event, readout));
      frame.replaceChildren(img);
      if (bar) drawBar(bar, range, unit);
      links.replaceChildren(h('a', { href: full, download: '', class: 'download' }, 'Download PNG'),
        payload.content_type === 'image/png' ? '' : h('a', { href: sameOrigin(payload.url).href, download: '', class: 'download' }, `Download ${key}${isArray ? ' (.npy)' : ''}`));
    };
    if (controls) {
      const select = (label, name, options) => h('label', {}, `${label} `, h('select', { name, onchange: (event) => { choice = { ...choice, [name]: event.target.value }; show(); } },
        options.map(([value, text]) => h('option', { value, selected: choice[name] === value }, text))));
      controls.append(select('Colours', 'colormap', COLORMAPS.map((c) => [c, c])),
        select('Range', 'range', [['user', 'all snapshots'], ['snapshot', 'this snapshot']]));
    }
    show();
  } else {
    links.append(h('a', { href: sameOrigin(payload.url).href, download: '', class: 'download' }, `Download ${key}`));
  }
  figure.append(h('figcaption', {},
    h('dl', {},
      h('dt', {}, 'Payload'), h('dd', {}, h('code', {}, key), ` (${payload.content_type})`),
      h('dt', {}, 'Size'), h('dd', { title: `${payload.length} bytes` }, bytes(payload.length)),
      h('dt', {}, 'SHA-256'), h('dd', {}, h('code', { title: payload.sha256, class: 'sha' }, `${payload.sha256.slice(0, 12)}…`))),
    links));
  return figure;
}

/** The payload's own range, from its stored description (or none: the API then takes the array's). */
const ownRange = (payload) => (Number.isFinite(payload.minimum) && Number.isFinite(payload.maximum) && payload.maximum > payload.minimum
  ? [payload.minimum, payload.maximum] : null);

function drawBar(bar, range, unit) {
  const img = h('img', { src: api('colormaps', choice.colormap).href, alt: '', class: 'colour-strip' });
  const scale = h('div', { class: 'colour-ticks' });
  if (range) {
    const [low, high] = range;
    for (const v of ticks(low, high)) {
      const tick = h('span', {}, number(v));
      tick.style.left = `${((v - low) / (high - low)) * 100}%`;
      scale.append(tick);
    }
  }
  bar.replaceChildren(img, scale, h('p', { class: 'colour-caption' },
    range ? `${number(range[0])} to ${number(range[1])}${unit ? ` ${unit}` : ''}` : 'the array\'s own range', unit ? '' : ' (no unit declared)'));
}

/** An <img> cannot read the API's error message: ask once more, to show it. */
async function broken(img, src, alt) {
  let why = 'it did not load';
  try {
    const response = await fetch(src);
    if (!response.ok) why = `${response.status}: ${(await response.json().catch(() => null))?.detail ?? response.statusText}`;
  } catch (error) { why = error.message; }
  img.replaceWith(h('p', { class: 'error' }, `Could not show the ${alt.toLowerCase()}: ${why}`));
}
