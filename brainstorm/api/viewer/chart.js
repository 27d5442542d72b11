// A user's feelings over time as an inline SVG line chart: x is time (so a pause between recordings is
// a gap), one line per feeling, the current snapshot marked. Drag across it to zoom into a span of time;
// the buttons zoom out again. Hovering names the nearest snapshot, and a click opens it. It is drawn at
// the width it is shown at, so its text keeps its size on a phone.
import { currentZone, formatTime, tickLabel } from './times.js';

const SVG = 'http://www.w3.org/2000/svg';
// The Okabe–Ito palette: told apart also with the common colour-vision deficiencies.
export const FEELINGS = { hunger: '#0072b2', thirst: '#e69f00', exhaustion: '#009e73', happiness: '#cc79a7' };
const HEIGHT = 220, LEFT = 36, RIGHT = 12, TOP = 10, BOTTOM = 34;
const MAX_DOTS = 200;  // more points than this in view: the lines alone, not a crowd of dots
const GAP = 5;  // a step this many times the typical one breaks the line: no recording in between
const STEPS = [1, 2, 5, 10, 15, 30].map((s) => s * 1000)
  .concat([1, 2, 5, 10, 15, 30].map((m) => m * 60_000), [1, 2, 3, 6, 12].map((h) => h * 3_600_000),
    [1, 2, 7, 14, 30, 91, 182, 365].map((d) => d * 86_400_000));

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

const median = (values) => { const s = [...values].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? 0; };

/**
 * points: [{snapshot_id, time (ms), feelings: {hunger, ...} or null}] by time; scale: [low, high] the
 * feelings lie on; current: the snapshot_id to mark, or null; open(snapshot_id): go to that snapshot.
 * Returns {element, drawn}: the chart's figure and a function that redraws it (after a resize).
 */
export function feelingsChart(points, { scale = [-1, 1], current = null, open, label }) {
  const finite = points.flatMap((p) => (p.feelings ? Object.keys(FEELINGS).map((f) => p.feelings[f]) : [])).filter(Number.isFinite);
  const low = Math.min(scale[0], ...finite), high = Math.max(scale[1], ...finite);  // widened only by a value outside it
  const all = [points[0]?.time ?? 0, points.at(-1)?.time ?? 1];
  let view = [...all];
  const typical = median(points.slice(1).map((p, i) => p.time - points[i].time));

  const readout = document.createElement('p');
  readout.className = 'chart-readout';
  readout.setAttribute('aria-live', 'polite');
  const holder = document.createElement('div');
  holder.className = 'chart-holder';
  const buttons = document.createElement('div');
  buttons.className = 'chart-buttons';
  const button = (text, title, action) => {
    const b = document.createElement('button');
    Object.assign(b, { type: 'button', textContent: text, title });
    b.addEventListener('click', action);
    return b;
  };
  const zoomBy = (factor) => {
    const middle = (view[0] + view[1]) / 2, half = Math.max((view[1] - view[0]) * factor / 2, 500);
    view = [Math.max(all[0], middle - half), Math.min(all[1], middle + half)];
    draw();
  };
  buttons.append(button('Zoom out', 'Show twice the span', () => zoomBy(2)), button('All', 'Show every snapshot', () => { view = [...all]; draw(); }));

  function draw() {
    const width = Math.max(holder.clientWidth || 600, 280);
    const span = Math.max(view[1] - view[0], 1);
    const x = (t) => (points.length === 1 ? width / 2 : LEFT + ((t - view[0]) / span) * (width - LEFT - RIGHT));
    const time = (px) => view[0] + ((px - LEFT) / (width - LEFT - RIGHT)) * span;
    const y = (v) => TOP + ((high - v) / (high - low)) * (HEIGHT - TOP - BOTTOM);
    const shown = points.filter((p) => p.time >= view[0] && p.time <= view[1]);
    const chart = svg('svg', { viewBox: `0 0 ${width} ${HEIGHT}`, width, height: HEIGHT, class: 'chart', role: 'img', 'aria-label': label });

    for (const v of [-1, -0.5, 0, 0.5, 1].map((f) => low + ((f + 1) / 2) * (high - low))) {
      chart.append(svg('line', { x1: LEFT, x2: width - RIGHT, y1: y(v), y2: y(v), class: Math.abs(v) < 1e-9 ? 'grid zero' : 'grid' }));
      chart.append(svg('text', { x: LEFT - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(+v.toFixed(2))));
    }
    const step = STEPS.find((s) => span / s <= Math.max(2, Math.floor((width - LEFT - RIGHT) / 90))) ?? STEPS.at(-1);
    const offset = currentZone() === 'utc' ? 0 : -new Date(view[0]).getTimezoneOffset() * 60_000;  // ticks on the zone's round times
    for (let t = Math.ceil((view[0] + offset) / step) * step - offset; t <= view[1]; t += step) {
      chart.append(svg('line', { x1: x(t), x2: x(t), y1: HEIGHT - BOTTOM, y2: HEIGHT - BOTTOM + 4, class: 'tick' }));
      chart.append(svg('text', { x: x(t), y: HEIGHT - BOTTOM + 16, class: 'axis', 'text-anchor': 'middle' }, tickLabel(new Date(t), step)));
    }
    chart.append(svg('text', { x: width - RIGHT, y: HEIGHT - 4, class: 'axis', 'text-anchor': 'end' },
      `${formatTime(new Date(view[0]))} → ${formatTime(new Date(view[1])).split(' ').slice(1).join(' ')}`));

    for (const [feeling, colour] of Object.entries(FEELINGS)) {
      const group = svg('g', { 'data-feeling': feeling, stroke: colour, fill: colour });
      let d = '', previous = null;
      for (const p of shown) {
        const v = p.feelings?.[feeling];
        if (!Number.isFinite(v)) { previous = null; continue; }
        const broken = previous === null || (typical > 0 && p.time - previous > GAP * typical);
        d += `${broken ? 'M' : 'L'}${x(p.time).toFixed(1)},${y(v).toFixed(1)}`;
        previous = p.time;
        const marked = p.snapshot_id === current;
        if (marked || shown.length <= MAX_DOTS) {
          group.append(svg('circle', { cx: x(p.time), cy: y(v), r: marked ? 5 : 3, class: marked ? 'point current' : 'point' }));
        }
      }
      group.prepend(svg('path', { d, fill: 'none' }));
      chart.append(group);
    }
    const marked = points.find((p) => p.snapshot_id === current);
    if (marked && marked.time >= view[0] && marked.time <= view[1]) {
      chart.append(svg('line', { x1: x(marked.time), x2: x(marked.time), y1: TOP, y2: HEIGHT - BOTTOM, class: 'current' }));
    }

    // The pointer: hover names the nearest snapshot, a click opens it, a drag zooms to its span.
    const hover = svg('line', { y1: TOP, y2: HEIGHT - BOTTOM, class: 'hover', visibility: 'hidden' });
    const band = svg('rect', { y: TOP, height: HEIGHT - TOP - BOTTOM, class: 'band', visibility: 'hidden' });
    const surface = svg('rect', { x: LEFT, y: TOP, width: width - LEFT - RIGHT, height: HEIGHT - TOP - BOTTOM, class: 'surface' });
    chart.append(hover, band, surface);
    const local = (event) => event.clientX - chart.getBoundingClientRect().left;
    const nearest = (px) => {
      const t = time(px);
      let best = null;
      for (const p of shown) if (!best || Math.abs(p.time - t) < Math.abs(best.time - t)) best = p;
      return best;
    };
    let dragFrom = null;
    surface.addEventListener('pointerdown', (event) => { dragFrom = local(event); surface.setPointerCapture(event.pointerId); });
    surface.addEventListener('pointermove', (event) => {
      const px = local(event), p = nearest(px);
      if (dragFrom !== null && Math.abs(px - dragFrom) > 4) {
        band.setAttribute('x', Math.min(px, dragFrom)); band.setAttribute('width', Math.abs(px - dragFrom));
        band.setAttribute('visibility', 'visible');
      }
      if (!p) return;
      hover.setAttribute('x1', x(p.time)); hover.setAttribute('x2', x(p.time)); hover.setAttribute('visibility', 'visible');
      readout.textContent = `Snapshot ${p.snapshot_id}, ${formatTime(new Date(p.time))}: `
        + (p.feelings ? Object.keys(FEELINGS).map((f) => `${f} ${Number.isFinite(p.feelings[f]) ? p.feelings[f].toFixed(3) : '—'}`).join(', ') : 'no feelings');
    });
    surface.addEventListener('pointerup', (event) => {
      const px = local(event), from = dragFrom;
      dragFrom = null;
      if (from !== null && Math.abs(px - from) > 4) {
        const [a, b] = [time(Math.min(px, from)), time(Math.max(px, from))];
        view = [Math.max(all[0], a), Math.min(all[1], Math.max(b, a + 500))];
        draw();
      } else {
        const p = nearest(px);
        if (p) open(p.snapshot_id);
      }
    });
    surface.addEventListener('pointerleave', () => { hover.setAttribute('visibility', 'hidden'); });
    holder.replaceChildren(chart);
  }

  const element = document.createElement('div');
  element.className = 'chart-box';
  element.append(buttons, holder, readout);
  return { element, draw };
}
