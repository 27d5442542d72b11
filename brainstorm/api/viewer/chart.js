// The feelings of a user's snapshots as an inline SVG line chart: one line per feeling, one point per
// snapshot that has feelings (a snapshot without them leaves a gap), the current snapshot marked.
// Each snapshot's column is a link to it, whose tooltip lists its values.

const SVG = 'http://www.w3.org/2000/svg';
// The Okabe–Ito palette: told apart also with the common colour-vision deficiencies.
export const FEELINGS = { hunger: '#0072b2', thirst: '#e69f00', exhaustion: '#009e73', happiness: '#cc79a7' };
const WIDTH = 600, HEIGHT = 200, LEFT = 34, RIGHT = 10, TOP = 10, BOTTOM = 24;

function svg(tag, attributes = {}, ...children) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  element.append(...children);
  return element;
}

const title = (text) => svg('title', {}, text);

/**
 * series: [{snapshot_id, datetime (shown as given), feelings: {hunger, ...} or null}] in order;
 * current: the snapshot_id to mark, or null; href(snapshot_id): where its column links to.
 */
export function feelingsChart(series, { current = null, href, label }) {
  const values = series.flatMap((s) => (s.feelings ? Object.keys(FEELINGS).map((f) => s.feelings[f]) : []));
  const finite = values.filter(Number.isFinite);
  // Feelings lie in [-1, 1]; the scale widens only if a stored value does not.
  const low = Math.min(-1, ...finite), high = Math.max(1, ...finite);
  const step = (WIDTH - LEFT - RIGHT) / Math.max(series.length - 1, 1);
  const x = (i) => (series.length === 1 ? (LEFT + WIDTH - RIGHT) / 2 : LEFT + i * step);
  const y = (v) => TOP + ((high - v) / (high - low)) * (HEIGHT - TOP - BOTTOM);
  const dot = series.length > 60 ? 1.5 : 3;  // many snapshots: the lines, not a crowd of dots

  const chart = svg('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, class: 'chart', preserveAspectRatio: 'xMinYMid meet', role: 'group', 'aria-label': label });
  for (const v of [-1, -0.5, 0, 0.5, 1]) {
    chart.append(svg('line', { x1: LEFT, x2: WIDTH - RIGHT, y1: y(v), y2: y(v), class: v ? 'grid' : 'grid zero' }));
    if (Number.isInteger(v)) chart.append(svg('text', { x: LEFT - 6, y: y(v) + 4, class: 'axis', 'text-anchor': 'end' }, String(v)));
  }
  const first = series[0], last = series.at(-1);
  if (first) chart.append(svg('text', { x: LEFT, y: HEIGHT - 6, class: 'axis' }, first.datetime));
  if (last && last !== first) chart.append(svg('text', { x: WIDTH - RIGHT, y: HEIGHT - 6, class: 'axis', 'text-anchor': 'end' }, last.datetime));

  // The columns first, under the lines (which let the pointer through to them: see viewer.css).
  series.forEach((s, i) => {
    const lines = s.feelings ? Object.keys(FEELINGS).map((f) => `${f} ${s.feelings[f]}`) : ['no feelings'];
    const column = svg('a', { href: href(s.snapshot_id), class: 'column' },
      title([`Snapshot ${s.snapshot_id}, ${s.datetime}`, ...lines].join('\n')),
      svg('rect', { x: x(i) - step / 2, y: TOP, width: series.length === 1 ? WIDTH : step, height: HEIGHT - TOP - BOTTOM }));
    chart.append(column);
    if (s.snapshot_id === current) {
      chart.append(svg('line', { x1: x(i), x2: x(i), y1: TOP, y2: HEIGHT - BOTTOM, class: 'current' }));
    }
  });

  for (const [feeling, colour] of Object.entries(FEELINGS)) {
    const group = svg('g', { 'data-feeling': feeling, stroke: colour, fill: colour });
    let d = '', pen = 'M';  // a new subpath after each gap
    series.forEach((s, i) => {
      const v = s.feelings?.[feeling];
      if (!Number.isFinite(v)) { pen = 'M'; return; }
      d += `${pen}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
      pen = 'L';
      const marked = s.snapshot_id === current;
      group.append(svg('circle', { cx: x(i), cy: y(v), r: marked ? 5 : dot, class: marked ? 'point current' : 'point' }));
    });
    group.prepend(svg('path', { d, fill: 'none' }));
    chart.append(group);
  }
  return chart;
}
