// The public API (/api/v1) as the app uses it: one fetch wrapper that adds the token, turns
// problem+json answers into ApiError, and counts requests in flight for the loading indicator;
// the session (token) kept in sessionStorage, so each tab has its own and it never enters a URL;
// and the words a passenger sees for each error code.

const SESSION_KEY = 'passcom.session';
const TIMEOUT_MS = 30000;

// ---- session -------------------------------------------------------------------------------

export const session = {
  /** {token, login, userId, expiresAt} or null when absent or expired. */
  get() {
    let value = null;
    try {
      value = JSON.parse(sessionStorage.getItem(SESSION_KEY) || 'null');
    } catch {
      value = null;
    }
    if (!value || typeof value.token !== 'string') return null;
    if (value.expiresAt && Date.now() >= value.expiresAt) {
      this.clear();
      return null;
    }
    return value;
  },
  set(answer, login) {
    const expiresIn = Number(answer.expires_in);
    sessionStorage.setItem(SESSION_KEY, JSON.stringify({
      token: answer.access_token,
      userId: answer.user_id,
      login,
      expiresAt: Number.isFinite(expiresIn) && expiresIn > 0 ? Date.now() + expiresIn * 1000 : null,
    }));
    window.dispatchEvent(new Event('passcom:session'));
  },
  clear() {
    sessionStorage.removeItem(SESSION_KEY);
    window.dispatchEvent(new Event('passcom:session'));
  },
};

// ---- errors --------------------------------------------------------------------------------

export class ApiError extends Error {
  constructor({ status = 0, code = null, title = '', detail = '', airline = null, leg = null, network = false }) {
    super(code || title || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.title = title;
    this.detail = detail;
    this.airline = airline;
    this.leg = Number.isInteger(leg) ? leg : null;
    this.network = network;
  }

  /** Worth retrying with the same request (and the same Idempotency-Key). */
  get retryable() {
    return this.network || this.status >= 500 || this.status === 429 || this.code === 'request_in_progress';
  }
}

const airlineLabel = (code) => (code ? `Airline ${code}` : 'One of the airlines');

const MESSAGES = {
  seat_locked: () => 'Someone else is buying this seat right now — pick another seat or try again in a few seconds.',
  seat_taken: () => 'This seat was just sold — the map has been refreshed, please pick another.',
  airline_unavailable: (e) => `${airlineLabel(e.airline)} is not answering right now, so this cannot be done at the moment. Please try again in a little while.`,
  lock_service_unavailable: () => 'Seat reservations are briefly unavailable (the seat lock service is down). Nothing was booked; please try again in a moment.',
  login_taken: () => 'That login is already taken — please choose another.',
  bad_credentials: () => 'Wrong login or password.',
  invalid_itinerary: () => 'These flights cannot be booked together.',
  request_in_progress: () => 'Your purchase is still being processed. Wait a few seconds and press Buy again to see the result.',
  too_many_requests: () => 'Too many requests — please wait a moment and try again.',
  unauthorized: () => 'Your session expired, please log in again.',
  not_found: () => 'We could not find that — it may not exist or may not be yours.',
  invalid_body: () => 'Some of the information is not valid.',
  invalid_query: () => 'The search is not valid.',
  database_unavailable: () => 'This airline’s server is having trouble right now. Please try again in a moment.',
  booking_timed_out: () => 'The booking took too long and was not completed, so nothing was bought. Please try again.',
  idempotency_key_reused: () => 'This purchase attempt was already used for a different selection. Please press Buy again.',
};

/** The sentence a passenger sees for an error. */
export function friendlyMessage(error) {
  if (!(error instanceof ApiError)) return 'Something went wrong in this page. Please reload it.';
  if (error.network) return 'Cannot reach the server — check your connection and try again.';
  const message = error.code && MESSAGES[error.code];
  if (message) return message(error);
  if (error.status === 429) return MESSAGES.too_many_requests(error);
  if (error.status >= 500) return 'The server could not do this right now. Please try again in a moment.';
  if (error.status === 404) return MESSAGES.not_found(error);
  return 'The request was refused.';
}

/** The server's own explanation, shown as secondary text for 4xx answers only. */
export function secondaryDetail(error) {
  if (!(error instanceof ApiError) || error.status < 400 || error.status >= 500) return '';
  return typeof error.detail === 'string' ? error.detail.slice(0, 300) : '';
}

// ---- requests ------------------------------------------------------------------------------

let inFlight = 0;
function setBusy(delta) {
  inFlight += delta;
  window.dispatchEvent(new CustomEvent('passcom:busy', { detail: inFlight }));
}

/**
 * api('/api/v1/routes?…') → parsed JSON body.
 * Options: method, body (sent as JSON), auth (send the token; a 401 then ends the session),
 * headers, quiet (not counted by the loading indicator: background refreshes).
 */
export async function api(path, { method = 'GET', body, auth = false, headers = {}, quiet = false } = {}) {
  const sendHeaders = { Accept: 'application/json, application/problem+json', ...headers };
  if (body !== undefined) sendHeaders['Content-Type'] = 'application/json';
  const current = auth ? session.get() : null;
  if (auth) {
    // Views check for a session before they call; none here means it ran out meanwhile.
    if (!current) {
      window.dispatchEvent(new Event('passcom:expired'));
      throw expired();
    }
    sendHeaders.Authorization = `Bearer ${current.token}`;
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  if (!quiet) setBusy(1);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: sendHeaders,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: controller.signal,
      credentials: 'omit',
      cache: 'no-store',
    });
  } catch {
    throw new ApiError({ network: true });
  } finally {
    clearTimeout(timer);
    if (!quiet) setBusy(-1);
  }
  const data = await readJson(response);
  if (response.ok) return data ?? {};
  const problem = data && typeof data === 'object' ? data : {};
  const error = new ApiError({
    status: response.status,
    code: typeof problem.code === 'string' ? problem.code : null,
    title: typeof problem.title === 'string' ? problem.title : '',
    detail: typeof problem.detail === 'string' ? problem.detail : '',
    airline: typeof problem.airline === 'string' ? problem.airline : null,
    leg: problem.leg,
  });
  if (auth && response.status === 401) {
    session.clear();
    window.dispatchEvent(new Event('passcom:expired'));
    throw expired();
  }
  throw error;
}

function expired() {
  return new ApiError({ status: 401, code: 'unauthorized' });
}

async function readJson(response) {
  const type = response.headers.get('content-type') || '';
  if (!type.includes('json')) return null;
  try {
    return await response.json();
  } catch {
    return null;
  }
}

const enc = encodeURIComponent;

export const endpoints = {
  register: (login, password) => api('/api/v1/accounts', { method: 'POST', body: { login, password } }),
  logIn: (login, password) => api('/api/v1/sessions', { method: 'POST', body: { login, password } }),
  cities: () => api('/api/v1/cities', { quiet: true }),
  federation: () => api('/api/v1/federation', { quiet: true }),
  routes: (query) => api(`/api/v1/routes?${new URLSearchParams(query)}`),
  segment: (airline, segmentId) => api(`/api/v1/segments/${enc(airline)}/${enc(segmentId)}`),
  book: (body, idempotencyKey) => api('/api/v1/bookings', {
    method: 'POST', body, auth: true, headers: { 'Idempotency-Key': idempotencyKey },
  }),
  passes: () => api('/api/v1/passes', { auth: true }),
  pass: (id) => api(`/api/v1/passes/${enc(id)}`, { auth: true }),
  cancel: (id) => api(`/api/v1/passes/${enc(id)}`, { method: 'DELETE', auth: true }),
};

/** A random UUID; crypto.randomUUID needs a secure context, getRandomValues does not. */
export function newIdempotencyKey() {
  if (typeof crypto.randomUUID === 'function') return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const hex = [...b].map((x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
