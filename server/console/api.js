// The admin API client. A person signed in with email and password has an
// HttpOnly session cookie (the browser sends it) and a CSRF token that every
// write carries in `X-CSRF-Token`. A token pasted for automation lives in
// sessionStorage (gone when the tab closes) and goes out as
// `Authorization: Bearer`. Errors become ApiError with the server's
// `{error, message, field}`.
const KEY = 'daylight.token';
let csrf = null;
// Bumped at every sign-in and sign-out: a 401 answering a request sent
// under an earlier credential (a live poll in flight at sign-out) must not
// sign out the person who has signed in since.
let epoch = 0;

export class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status;
    this.code = body?.error ?? 'http';
    this.field = body?.field ?? null;
  }
}

export const getToken = () => sessionStorage.getItem(KEY);
/** The session's CSRF token (from the sign-in answer or `GET /session`); null for none. */
export const setCsrf = (token) => {
  epoch++;
  csrf = token;
};
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS']);
export const setToken = (token) => {
  epoch++;
  return token ? sessionStorage.setItem(KEY, token) : sessionStorage.removeItem(KEY);
};

/** Header values must be bytes: send the comment's UTF-8 bytes (the server reads them as UTF-8). */
function headerText(text) {
  return Array.from(new TextEncoder().encode(text.replace(/[\r\n]+/g, ' ')), (b) => String.fromCharCode(b)).join('');
}

let onUnauthorized = () => {};
export const whenUnauthorized = (fn) => (onUnauthorized = fn);
// A write refused with 403 may mean the role changed since the console read
// it: the shell then reads the session again.
let onForbidden = () => {};
export const whenForbidden = (fn) => (onForbidden = fn);

/**
 * One call: `api('PUT', '/flags/x/environments/production', { body, version, comment })`.
 * `text` sends text/plain (key lists). Resolves to `{ data, version }` (the `ETag` as a number).
 */
export async function api(method, path, { body, text, version, comment, confirm, quiet } = {}) {
  const headers = {};
  const sentUnder = epoch;
  const token = getToken();
  if (token) headers.Authorization = `Bearer ${token}`;
  else if (csrf && !SAFE.has(method)) headers['X-CSRF-Token'] = csrf;
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (text !== undefined) headers['Content-Type'] = 'text/plain; charset=utf-8';
  if (version !== undefined && version !== null) headers['If-Match'] = `"${version}"`;
  if (comment) headers['X-Audit-Comment'] = headerText(comment);
  // The key typed back: the server asks for it to archive a flag still served.
  if (confirm) headers['X-Confirm'] = confirm;
  const res = await fetch(`/api/v1${path}`, {
    method,
    headers,
    body: body !== undefined ? JSON.stringify(body) : text,
    credentials: 'same-origin',
  });
  const raw = await res.text();
  let data = null;
  try {
    data = raw ? JSON.parse(raw) : null;
  } catch {
    data = { message: raw };
  }
  if (!res.ok) {
    const error = new ApiError(res.status, data);
    if (res.status === 401 && !quiet && sentUnder === epoch) onUnauthorized(error);
    if (res.status === 403 && !SAFE.has(method) && sentUnder === epoch) onForbidden(error);
    throw error;
  }
  const etag = res.headers.get('ETag');
  return { data, version: etag ? Number(etag.replace(/^W\//, '').replaceAll('"', '')) : undefined };
}

export const get = async (path) => (await api('GET', path)).data;
export const enc = encodeURIComponent;
