// Talking to the API, and building elements. Every API URL is relative to the page, which is the app's
// root, so the viewer also works with the app mounted under a prefix. Stored text only ever enters the
// page as text (textContent, text nodes, attribute values), never as HTML.

export class ApiError extends Error {
  constructor(message, status) { super(message); this.status = status; }
}

/** An API URL from path segments, each encoded (ids come from the hash, names from the API). */
export const api = (...segments) => new URL(segments.map((s) => encodeURIComponent(s)).join('/'), document.baseURI);

/** A URL the API gave (it includes the app's prefix), refused unless it stays on this server. */
export function sameOrigin(url) {
  const resolved = new URL(url, document.baseURI);
  if (resolved.origin !== location.origin) throw new ApiError(`refusing a URL off this server: ${url}`, 0);
  return resolved;
}

/** The JSON at `url`; a failure becomes an ApiError carrying the API's `detail` message. */
export async function getJson(url, signal) {
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

/** Every snapshot of a user's series of one result, following the pages (one request up to 10,000). */
async function wholeSeries(userId, resultName) {
  let url = api('users', userId, 'series', resultName);
  url.searchParams.set('limit', '10000');
  const first = await getJson(url);
  const snapshots = [...first.snapshots];
  for (let next = first.next; next; ) {
    const page = await getJson(sameOrigin(next));
    snapshots.push(...page.snapshots);
    next = page.next;
  }
  return { ...first, snapshots, next: null };
}

// The user being looked at: stepping through their snapshots reuses these. They are not tied to one
// view's requests (a view left early does not cancel them), and a failure is not kept.
let cached = { userId: null };
export function forgetUsers() { cached = { userId: null }; }
export function userData(userId) {
  if (cached.userId !== userId) cached = { userId };
  const store = cached;
  const keep = (name, load) => {
    if (!store[name]) {
      const loading = (store[name] = load());
      loading.catch(() => { if (store[name] === loading) delete store[name]; });
    }
    return store[name];
  };
  return {
    user: () => keep('user', () => getJson(api('users', userId))),
    // One result across every snapshot: the snapshot list (ids, datetimes), a chart's values, the range
    // of every depth map, the gallery's pictures. The feelings' series doubles as the snapshot list.
    series: (resultName) => keep(`series:${resultName}`, () => wholeSeries(userId, resultName)),
  };
}

/** h('td', {class: 'x'}, 'text', child): an element; strings become text nodes, never HTML. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name.startsWith('on')) element.addEventListener(name.slice(2), value);
    else if (value === true) element.setAttribute(name, '');
    else if (value != null && value !== false) element.setAttribute(name, String(value));
  }
  element.append(...children.flat(Infinity).filter((c) => c != null && c !== false));
  return element;
}

export const snapshotHash = (userId, snapshotId) => `#/users/${userId}/snapshots/${snapshotId}`;
export const galleryHash = (userId, resultName, page = 1) => `#/users/${userId}/gallery/${encodeURIComponent(resultName)}/${page}`;
