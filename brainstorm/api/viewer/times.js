// Times for people: local time by default, UTC at a switch, the zone always shown, one format shared
// with the command line: `2019-12-04 12:08:07.381 +02:00`, or `2019-12-04 10:08:07.381 UTC`.
// The other zone is in the element's title (hover), so either is one glance away.

const KEY = 'brainstorm.zone';
let zone = (() => { try { return localStorage.getItem(KEY) === 'utc' ? 'utc' : 'local'; } catch { return 'local'; } })();

export const currentZone = () => zone;
export function setZone(value) {
  zone = value === 'utc' ? 'utc' : 'local';
  try { localStorage.setItem(KEY, zone); } catch { /* private browsing: for this page only */ }
}

const pad = (n, width = 2) => String(n).padStart(width, '0');

/** The parts of `date` in a zone: local, or UTC. */
function parts(date, inZone) {
  const utc = inZone === 'utc';
  return {
    year: utc ? date.getUTCFullYear() : date.getFullYear(), month: (utc ? date.getUTCMonth() : date.getMonth()) + 1,
    day: utc ? date.getUTCDate() : date.getDate(), hours: utc ? date.getUTCHours() : date.getHours(),
    minutes: utc ? date.getUTCMinutes() : date.getMinutes(), seconds: utc ? date.getUTCSeconds() : date.getSeconds(),
    offset: utc ? 0 : -date.getTimezoneOffset(),
  };
}

function zoneName(offset) {
  if (offset === 0) return 'UTC';
  const sign = offset < 0 ? '-' : '+', minutes = Math.abs(offset);
  return `${sign}${pad(Math.floor(minutes / 60))}:${pad(minutes % 60)}`;
}

/** "2019-12-04 12:08:07.381 +02:00" (milliseconds always: snapshots are a second or less apart). */
export function formatTime(date, inZone = zone) {
  const p = parts(date, inZone);
  return `${p.year}-${pad(p.month)}-${pad(p.day)} ${pad(p.hours)}:${pad(p.minutes)}:${pad(p.seconds)}.${pad(date.getUTCMilliseconds(), 3)} ${zoneName(p.offset)}`;
}

/** A short label for an axis tick `step` milliseconds apart from the next one. */
export function tickLabel(date, step) {
  const p = parts(date, zone);
  const hm = `${pad(p.hours)}:${pad(p.minutes)}`;
  if (step >= 86_400_000) return `${p.year}-${pad(p.month)}-${pad(p.day)}`;
  if (step >= 60_000) return hm;
  return `${hm}:${pad(p.seconds)}`;
}

/** A <time> element for an ISO 8601 datetime of the API: shown in the chosen zone, the other on hover. */
export function timeElement(h, iso) {
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return h('span', {}, String(iso));
  return h('time', { datetime: iso, title: formatTime(date, zone === 'utc' ? 'local' : 'utc') }, formatTime(date));
}
