// My passes: the list (upcoming first, then past and cancelled ones), one pass with each
// passenger's seat on each leg, and cancelling it behind a confirmation <dialog>.
// Passes booked before party bookings have no (or empty) `passengers` and `seats`: one
// passenger, whose seat is `seat`.

import { endpoints, session } from './api.js';
import { h, replace, errorBox, notice, spinner, uid, fmtMoney, fmtDateTime, fmtTime, fmtDate, airlineName } from './dom.js';

const STATUS_LABEL = { confirmed: 'Confirmed', cancelled: 'Cancelled', disrupted: 'Disrupted' };

function requireSession(ctx, message) {
  if (session.get()) return true;
  ctx.flash(message, 'info');
  ctx.navigate(`#/login?next=${encodeURIComponent(ctx.currentHash())}`);
  return false;
}

const legsOf = (pass) => (Array.isArray(pass.legs) ? pass.legs : []);
const passengersOf = (pass) => (Array.isArray(pass.passengers) && pass.passengers.length
  ? pass.passengers.map((p, i) => (typeof p?.name === 'string' && p.name ? p.name : `Passenger ${i + 1}`))
  : ['Passenger 1']);
const seatsOf = (leg) => (Array.isArray(leg.seats) && leg.seats.length ? leg.seats : [leg.seat]);
const departure = (pass) => new Date(legsOf(pass)[0]?.departs_at ?? pass.created_at).getTime() || 0;
const isUpcoming = (pass, now) => pass.status !== 'cancelled' && departure(pass) > now;

function statusBadge(pass, now = Date.now()) {
  const past = pass.status !== 'cancelled' && departure(pass) <= now;
  return h('span', { class: 'badges' },
    h('span', { class: ['badge', `status-${pass.status}`], testid: 'pass-status', 'data-status': pass.status },
      STATUS_LABEL[pass.status] || String(pass.status)),
    past && h('span', { class: 'badge status-past' }, 'Departed'));
}

function trip(pass) {
  const legs = legsOf(pass);
  return legs.length ? `${legs[0].origin} → ${legs[legs.length - 1].destination}` : 'Pass';
}

// ---- the list ------------------------------------------------------------------------------

export function renderPasses(ctx) {
  if (!requireSession(ctx, 'Please log in to see your passes.')) return;
  const list = h('div', { class: 'passes', testid: 'passes-list' }, spinner('Loading your passes…'));
  replace(ctx.main, h('h1', { tabindex: '-1' }, 'My passes'), list);
  load();

  async function load() {
    replace(list, spinner('Loading your passes…'));
    let answer;
    try {
      answer = await endpoints.passes();
    } catch (error) {
      if (ctx.alive() && error.code !== 'unauthorized') replace(list, errorBox(error, { retry: load }));
      return;
    }
    if (!ctx.alive()) return;
    const now = Date.now();
    const passes = (Array.isArray(answer.passes) ? answer.passes : []).slice().sort((x, y) => {
      const ux = isUpcoming(x, now);
      const uy = isUpcoming(y, now);
      if (ux !== uy) return ux ? -1 : 1;
      return ux ? departure(x) - departure(y) : departure(y) - departure(x);
    });
    if (!passes.length) {
      replace(list, h('p', { class: 'muted', testid: 'no-passes' }, 'You have no passes yet. ',
        h('a', { href: '#/search' }, 'Search for flights')));
      return;
    }
    const upcoming = passes.filter((p) => isUpcoming(p, now));
    const rest = passes.filter((p) => !isUpcoming(p, now));
    replace(list,
      upcoming.length > 0 && h('h2', {}, 'Upcoming'),
      upcoming.length > 0 && h('ol', { class: 'plain pass-list' }, upcoming.map((p) => h('li', {}, passCard(p, now)))),
      rest.length > 0 && h('h2', {}, 'Past and cancelled'),
      rest.length > 0 && h('ol', { class: 'plain pass-list' }, rest.map((p) => h('li', {}, passCard(p, now)))));
  }
}

function passCard(pass, now) {
  const legs = legsOf(pass);
  const names = passengersOf(pass);
  const titleId = uid('pass');
  return h('article', {
    class: ['card', 'pass-card', pass.status === 'cancelled' ? 'is-cancelled' : null],
    testid: 'pass-card', 'data-pass-id': pass.pass_id, 'data-status': pass.status, 'aria-labelledby': titleId,
  },
  h('div', { class: 'pass-card-head' },
    h('h3', { id: titleId }, h('a', { href: `#/pass/${encodeURIComponent(pass.pass_id)}`, testid: 'pass-open', text: trip(pass) })),
    statusBadge(pass, now)),
  h('p', {}, legs.length ? fmtDateTime(legs[0].departs_at) : fmtDate(pass.created_at),
    ` · ${legs.map((l) => l.flight_no).join(' · ')}`),
  h('p', { class: 'muted' }, `${names.length === 1 ? names[0] : `${names.length} passengers`} · ${fmtMoney(pass.total_price)}`));
}

// ---- one pass ------------------------------------------------------------------------------

export function renderPass(ctx) {
  if (!requireSession(ctx, 'Please log in to see this pass.')) return;
  let id;
  try {
    id = decodeURIComponent(ctx.match[1]);
  } catch {
    id = ctx.match[1];
  }
  const body = h('div', { testid: 'pass-page' }, spinner('Loading the pass…'));
  replace(ctx.main, h('p', { class: 'back' }, h('a', { href: '#/passes' }, '← My passes')),
    h('h1', { tabindex: '-1' }, 'Your pass'), body);
  load();

  async function load() {
    replace(body, spinner('Loading the pass…'));
    try {
      const pass = await endpoints.pass(id);
      if (ctx.alive()) show(pass);
    } catch (error) {
      if (ctx.alive() && error.code !== 'unauthorized') replace(body, errorBox(error, { retry: error.status === 404 ? null : load }));
    }
  }

  function show(pass, message = null) {
    const names = passengersOf(pass);
    const cancel = pass.status !== 'cancelled' && h('button', {
      type: 'button', class: 'danger', testid: 'cancel-pass', onclick: () => confirmCancel(pass),
    }, 'Cancel this pass');
    replace(ctx.main.querySelector('h1'), `Your pass: ${trip(pass)}`);
    replace(body,
      message,
      h('section', { class: 'card pass-detail', testid: 'pass-detail', 'data-pass-id': pass.pass_id, 'data-status': pass.status },
        h('div', { class: 'pass-card-head' }, h('h2', {}, 'Details'), statusBadge(pass)),
        pass.status === 'disrupted' && notice('warning', h('p', { class: 'alert-title' },
          'One of these flights has changed or could not be confirmed. Please contact the airline that sold this pass.')),
        h('dl', { class: 'facts' },
          h('dt', {}, 'Pass'), h('dd', {}, h('code', { testid: 'pass-id', text: pass.pass_id })),
          h('dt', {}, 'Booked'), h('dd', {}, fmtDateTime(pass.created_at)),
          h('dt', {}, 'Sold by'), h('dd', {}, `Airline ${airlineName(pass.sold_by)}`),
          h('dt', {}, 'Total'), h('dd', { testid: 'pass-total' }, fmtMoney(pass.total_price))),
        h('h3', {}, names.length === 1 ? 'Passenger' : 'Passengers'),
        h('ol', { class: 'passenger-list', testid: 'passenger-list' },
          names.map((name) => h('li', { testid: 'passenger-name', text: name })))),
      legsOf(pass).map((leg, i) => legCard(leg, i, names)),
      cancel && h('div', { class: 'actions' }, cancel));
  }

  function confirmCancel(pass) {
    const titleId = uid('dialog');
    const textId = uid('dialog');
    const status = h('div', { class: 'dialog-status' });
    const keep = h('button', { type: 'button', class: 'secondary', testid: 'keep-pass' }, 'Keep my pass');
    const confirm = h('button', { type: 'button', class: 'danger', testid: 'confirm-cancel' }, 'Yes, cancel it');
    const dialog = h('dialog', { class: 'dialog', testid: 'cancel-dialog', 'aria-labelledby': titleId, 'aria-describedby': textId },
      h('h2', { id: titleId }, 'Cancel this pass?'),
      h('p', { id: textId }, `Every flight of ${trip(pass)} is cancelled for ${passengersOf(pass).length === 1 ? 'the passenger' : 'every passenger'} and the seats are given back. This cannot be undone.`),
      status,
      h('div', { class: 'actions' }, keep, confirm));
    let busy = false;
    keep.addEventListener('click', () => dialog.close());
    dialog.addEventListener('cancel', (event) => {
      if (busy) event.preventDefault();
    });
    dialog.addEventListener('close', () => dialog.remove());
    confirm.addEventListener('click', async () => {
      if (busy) return;
      busy = true;
      keep.disabled = true;
      confirm.disabled = true;
      replace(status, spinner('Cancelling…'));
      try {
        const cancelled = await endpoints.cancel(pass.pass_id);
        if (!ctx.alive()) return;
        dialog.close();
        show(cancelled, notice('success', h('p', { class: 'alert-title', testid: 'cancel-done' },
          'Your pass is cancelled and its seats are free again.')));
        ctx.main.querySelector('h1').focus();
      } catch (error) {
        if (!ctx.alive() || error.code === 'unauthorized') return;
        replace(status, errorBox(error, { testid: 'cancel-error' }));
        confirm.textContent = 'Try again';
      } finally {
        busy = false;
        keep.disabled = false;
        confirm.disabled = false;
      }
    });
    ctx.main.appendChild(dialog);
    dialog.showModal();
    keep.focus();
  }
}

function legCard(leg, i, names) {
  const seats = seatsOf(leg);
  const captionId = uid('leg');
  return h('section', { class: 'card pass-leg', testid: 'pass-leg', 'data-airline': leg.airline, 'aria-labelledby': captionId },
    h('h3', { id: captionId }, h('span', { class: 'airline-badge', text: airlineName(leg.airline) }), ' ',
      `Flight ${i + 1}: ${leg.flight_no} ${leg.origin} → ${leg.destination}`),
    h('p', {}, h('time', { datetime: leg.departs_at, text: fmtDateTime(leg.departs_at) }),
      leg.arrives_at ? [' → ', h('time', { datetime: leg.arrives_at, text: fmtTime(leg.arrives_at) })] : null),
    h('table', { class: 'seats-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Passenger'), h('th', { scope: 'col' }, 'Seat'))),
      h('tbody', {}, names.map((name, p) => h('tr', { testid: 'seat-assignment' },
        h('th', { scope: 'row', text: name }),
        h('td', { testid: 'passenger-seat', text: seats[p] ?? '—' }))))));
}
