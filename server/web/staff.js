// PassCom staff page: log in as staff of this airline, follow its events live (sales,
// cancellations, schedule changes, low availability) and read its sales figures. The token is
// kept in this tab's sessionStorage, apart from a passenger's, and never enters a URL; the
// event stream is read with fetch (EventSource cannot send an Authorization header) and resumed
// with Last-Event-ID after any interruption, so no event is missed.

import { api, ApiError } from './api.js';
import { h, replace, errorBox, notice, fmtMoney, fmtDateTime, todayUtc, airlineName } from './dom.js';

const KEY = 'passcom.staff';
const MAX_SHOWN = 200;
const main = document.getElementById('main');
const account = document.getElementById('account');
const loading = document.getElementById('loading');

window.addEventListener('passcom:busy', (event) => { loading.hidden = event.detail <= 0; });

const staffSession = {
  get() {
    try {
      const value = JSON.parse(sessionStorage.getItem(KEY) || 'null');
      return value && typeof value.token === 'string' && Date.now() < value.expiresAt ? value : null;
    } catch {
      return null;
    }
  },
  set(value) { sessionStorage.setItem(KEY, JSON.stringify(value)); },
  clear() { sessionStorage.removeItem(KEY); },
};

/** The claims of a JWT, read (not verified: the server does that on every call). */
function claimsOf(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part));
  } catch {
    return {};
  }
}

let stopStream = () => {};

async function start() {
  const federation = await api('/api/v1/federation', { quiet: true }).catch(() => null);
  const own = federation?.airline;
  document.getElementById('airline').textContent = own ? `Airline ${airlineName(own)}` : 'Airline unknown';
  const current = staffSession.get();
  if (current) showDesk(current); else showLogin(own);
}

function showLogin(own, error = null) {
  stopStream();
  replace(account);
  const login = h('input', { id: 'staff-login', name: 'login', autocomplete: 'username', required: true, testid: 'staff-login' });
  const password = h('input', { id: 'staff-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true, testid: 'staff-password' });
  const problem = h('div', { 'aria-live': 'polite' }, error);
  const form = h('form', { class: 'card narrow', testid: 'staff-login-form', onsubmit: async (event) => {
    event.preventDefault();
    replace(problem);
    try {
      const answer = await api('/api/v1/sessions', { method: 'POST', body: { login: login.value, password: password.value } });
      const claims = claimsOf(answer.access_token);
      if (claims.role !== 'staff' || (own && claims.airline !== own)) {
        replace(problem, notice('warning', h('p', { text: `This account is not staff of airline ${airlineName(own)}.` })));
        return;
      }
      const value = { token: answer.access_token, login: claims.login, airline: claims.airline, expiresAt: Date.now() + answer.expires_in * 1000 };
      staffSession.set(value);
      showDesk(value);
    } catch (e) {
      replace(problem, errorBox(e, { testid: 'staff-login-error' }));
    }
  } },
  h('h1', { text: 'Staff log in' }),
  h('div', { class: 'field' }, h('label', { for: 'staff-login', text: 'Login' }), login),
  h('div', { class: 'field' }, h('label', { for: 'staff-password', text: 'Password' }), password),
  h('button', { type: 'submit', class: 'primary', testid: 'staff-submit' }, 'Log in'),
  problem);
  replace(main, form);
  login.focus();
}

function showDesk(current) {
  replace(account,
    h('span', { text: `${current.login} · staff of ${airlineName(current.airline)}` }), ' ',
    h('button', { type: 'button', class: 'secondary', testid: 'staff-logout', onclick: () => { staffSession.clear(); showLogin(current.airline); } }, 'Log out'));
  const status = h('p', { class: 'muted small', testid: 'stream-status', text: 'Connecting…' });
  const list = h('ol', { class: 'plain event-list', testid: 'events', 'aria-live': 'polite' });
  const sales = h('div', { testid: 'sales' });
  const from = h('input', { id: 'sales-from', type: 'date', value: todayUtc(), testid: 'sales-from' });
  const to = h('input', { id: 'sales-to', type: 'date', value: addDays(todayUtc(), 6), testid: 'sales-to' });
  const form = h('form', { class: 'sales-form', onsubmit: (event) => { event.preventDefault(); loadSales(current, from.value, to.value, sales); } },
    h('div', { class: 'field' }, h('label', { for: 'sales-from', text: 'Departing from' }), from),
    h('div', { class: 'field' }, h('label', { for: 'sales-to', text: 'to' }), to),
    h('button', { type: 'submit', class: 'primary', testid: 'sales-load' }, 'Show sales'));
  replace(main,
    h('section', { class: 'card' }, h('h1', { text: 'Live events' }), status, list),
    h('section', { class: 'card' }, h('h2', { text: 'Sales' }), form, sales));
  stopStream = follow(current, list, status);
  loadSales(current, from.value, to.value, sales);
}

function addDays(day, n) {
  const d = new Date(`${day}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

// ---- the live event list -------------------------------------------------------------------

const WORDS = {
  sale: (e) => `Sale: ${e.seats} seat(s) on ${e.segment_id} for ${fmtMoney(e.amount)}`,
  cancellation: (e) => `Pass cancelled: ${e.seats} seat(s) freed on ${e.segment_id}`,
  segment_published: (e) => `Published ${e.segment_id} (${e.detail.origin} → ${e.detail.destination})`,
  price_changed: (e) => `Price of ${e.segment_id}: ${fmtMoney(e.detail.old_price)} → ${fmtMoney(e.detail.price)}`,
  flight_cancelled: (e) => `Flight ${e.segment_id} cancelled (${e.detail.reason}); ${e.detail.disrupted_passes} pass(es) disrupted`,
  low_availability: (e) => `Low availability on ${e.segment_id}: ${e.detail.seats_available} of ${e.detail.seats_total} seats left`,
};

function show(list, event) {
  const words = (WORDS[event.kind] || (() => event.kind))(event);
  list.prepend(h('li', { class: `event ${event.kind === 'low_availability' ? 'alert warning' : ''}`, testid: 'event', 'data-kind': event.kind },
    h('span', { class: 'muted small', text: fmtDateTime(event.at) }), ' ', h('span', { text: words })));
  while (list.children.length > MAX_SHOWN) list.lastChild.remove();
}

/** Follows the stream until stopped; returns the stop function. */
function follow(current, list, status) {
  const controller = new AbortController();
  let lastId = null;
  const run = async () => {
    while (!controller.signal.aborted) {
      try {
        const headers = { Authorization: `Bearer ${current.token}`, Accept: 'text/event-stream' };
        if (lastId !== null) headers['Last-Event-ID'] = lastId;
        const response = await fetch('/api/v1/airline/events', { headers, signal: controller.signal, cache: 'no-store', credentials: 'omit' });
        if (response.status === 401 || response.status === 403) {
          staffSession.clear();
          showLogin(current.airline, errorBox(new ApiError({ status: response.status, code: 'unauthorized' })));
          return;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        status.textContent = 'Live: new events appear at the top.';
        await readFrames(response.body, (frame) => {
          lastId = frame.id;
          show(list, frame.data);
        });
      } catch {
        if (controller.signal.aborted) return;
      }
      status.textContent = 'Reconnecting…';
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  };
  run();
  return () => controller.abort();
}

/** Reads Server-Sent Events frames from a byte stream, calling `onFrame({id, event, data})`. */
async function readFrames(body, onFrame) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += decoder.decode(value, { stream: true });
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = { id: null, event: null, data: null };
      for (const line of buffer.slice(0, end).split('\n')) {
        // Kept as the text sent: an id can be larger than a JavaScript number holds exactly.
        if (line.startsWith('id: ')) frame.id = line.slice(4);
        else if (line.startsWith('event: ')) frame.event = line.slice(7);
        else if (line.startsWith('data: ')) {
          try { frame.data = JSON.parse(line.slice(6)); } catch { frame.data = null; }
        }
      }
      buffer = buffer.slice(end + 2);
      if (frame.id !== null && frame.data) onFrame(frame);
    }
  }
}

// ---- the sales table -----------------------------------------------------------------------

async function loadSales(current, from, to, target) {
  try {
    const query = new URLSearchParams({ from, to });
    const report = await api(`/api/v1/airline/sales?${query}`, { headers: { Authorization: `Bearer ${current.token}` } });
    const percent = (x) => `${(x * 100).toFixed(1)} %`;
    const table = (caption, heads, rows, testid) => h('table', { class: 'sales', testid },
      h('caption', { text: caption }),
      h('thead', {}, h('tr', {}, heads.map((x) => h('th', { scope: 'col', text: x })))),
      h('tbody', {}, rows.map((cells) => h('tr', {}, cells.map((x) => h('td', { text: x }))))));
    replace(target,
      table('Per day', ['Day', 'Flights', 'Seats sold', 'Load factor', 'Revenue'],
        report.days.map((d) => [d.day, d.segments, `${d.seats_sold} / ${d.seats_total}`, percent(d.load_factor), fmtMoney(d.revenue)]), 'sales-days'),
      table('Per flight', ['Flight', 'Departure', 'Route', 'Seats sold', 'Load factor', 'Revenue'],
        report.segments.map((s) => [`${s.segment_id}${s.cancelled ? ' (cancelled)' : ''}`, fmtDateTime(s.departs_at),
          `${s.origin} → ${s.destination}`, `${s.seats_sold} / ${s.seats_total}`, percent(s.load_factor), fmtMoney(s.revenue)]), 'sales-segments'),
      report.segments.length ? null : h('p', { class: 'muted', text: 'No flights depart in these days.' }));
  } catch (e) {
    replace(target, errorBox(e, { testid: 'sales-error' }));
  }
}

start();
