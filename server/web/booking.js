// Booking: passenger names, one seat map per leg, and one Buy button for the whole itinerary.
// The itinerary is in the hash (#/book?passengers=2&leg=b/PB202-…&leg=…); names and seats are
// kept as a draft in sessionStorage so that logging in on the way does not lose them.
//
// Buying sends POST /api/v1/bookings with an Idempotency-Key made once per purchase attempt:
// a retry of the same selection after a network error, a 5xx or request_in_progress reuses it
// (so it can never buy twice), any other answer or a change of selection starts a new one.

import { endpoints, session, newIdempotencyKey } from './api.js';
import {
  h, replace, errorBox, notice, spinner, uid, addMoney, mulMoney, fmtMoney,
  fmtDateTime, fmtTime, airlineName,
} from './dom.js';
import { lastSearchHash } from './search.js';
import { seatMap } from './seatmap.js';

const MAX_LEGS = 6;

function readItinerary(params) {
  const passengers = Number.parseInt(params.get('passengers') || '1', 10);
  const legs = params.getAll('leg').map((value) => {
    const at = value.indexOf('/');
    return at > 0 ? { airline: value.slice(0, at), segment_id: value.slice(at + 1) } : null;
  });
  const valid = passengers >= 1 && passengers <= 9 && legs.length >= 1 && legs.length <= MAX_LEGS
    && legs.every((leg) => leg && leg.segment_id);
  return valid ? { passengers, legs } : null;
}

export function renderBooking(ctx) {
  const itinerary = readItinerary(ctx.params);
  if (!itinerary) {
    replace(ctx.main, h('h1', { tabindex: '-1' }, 'Choose seats'),
      notice('warning', h('p', { class: 'alert-title' }, 'This booking link is not complete.')),
      h('p', {}, h('a', { href: '#/search' }, 'Search for flights')));
    return;
  }
  const count = itinerary.passengers;
  const draftKey = `passcom.draft:${count}:${itinerary.legs.map((l) => `${l.airline}/${l.segment_id}`).join(',')}`;
  const draft = readDraft(draftKey, count, itinerary.legs.length);
  const state = {
    names: draft?.names ?? Array(count).fill(''),
    legs: itinerary.legs.map((ref, i) => ({
      ref, segment: null, seats: draft?.seats[i] ?? Array(count).fill(null), map: null,
      section: null, body: null, note: null,
    })),
    attempt: null,
    busy: false,
    done: false,
  };
  const saveDraft = () => sessionStorage.setItem(draftKey, JSON.stringify({
    names: state.names, seats: state.legs.map((leg) => leg.seats),
  }));
  const labelOf = (p) => (state.names[p].trim() ? `passenger ${p + 1} (${state.names[p].trim()})` : `passenger ${p + 1}`);

  // -- passengers --
  const nameInputs = state.names.map((name, p) => {
    const input = h('input', {
      id: `passenger-${p}`, type: 'text', required: true, maxLength: 100, value: name,
      autocomplete: p === 0 ? 'name' : 'off', testid: 'passenger-name-input', 'data-passenger': String(p),
    });
    input.addEventListener('input', () => {
      state.names[p] = input.value;
      input.removeAttribute('aria-invalid');
      saveDraft();
      state.legs.forEach((leg) => leg.map?.update());
    });
    return input;
  });
  const passengersBox = h('fieldset', { class: 'card passengers', testid: 'passengers-form' },
    h('legend', {}, count === 1 ? 'Passenger' : `Passengers (${count})`),
    h('p', { class: 'hint' }, 'Full name as on the ID document, 1-100 characters.'),
    nameInputs.map((input, p) => h('div', { class: 'field' },
      h('label', { for: input.id, text: `Passenger ${p + 1} name` }), input)));

  // -- legs --
  const legSections = state.legs.map((leg, i) => {
    leg.body = h('div', { class: 'leg-map' }, spinner('Loading the seat map…'));
    leg.note = h('div', { class: 'leg-note' });
    leg.heading = h('h2', { id: uid('leg') }, `Flight ${i + 1} of ${state.legs.length}`);
    leg.section = h('section', { class: 'card leg-section', testid: `leg-${i}`, 'aria-labelledby': leg.heading.id },
      leg.heading, leg.note, leg.body);
    return leg.section;
  });

  // -- buy --
  const total = h('p', { class: 'total', testid: 'booking-total' });
  const buyStatus = h('div', { class: 'buy-status', testid: 'buy-status' });
  const buy = h('button', { type: 'button', class: 'primary big', testid: 'buy' }, 'Buy');
  const loginNeeded = h('div', { testid: 'login-required' });
  const showLoginNeeded = () => {
    replace(loginNeeded, session.get() ? null : notice('info', h('p', { class: 'alert-title' },
      'Log in to buy. Your names and seats are kept while you do. ',
      h('a', { href: `#/login?next=${encodeURIComponent(ctx.currentHash())}` }, 'Log in'), ' or ',
      h('a', { href: `#/register?next=${encodeURIComponent(ctx.currentHash())}` }, 'register'), '.')));
  };
  showLoginNeeded();

  const updateTotal = () => {
    const prices = state.legs.map((leg) => leg.segment?.price);
    const sum = prices.every(Boolean) ? addMoney(prices) : null;
    replace(total, sum ? ['Total for ', count === 1 ? '1 passenger' : `${count} passengers`, ': ',
      h('strong', { text: fmtMoney(mulMoney(sum, count)) })] : '');
  };

  replace(ctx.main,
    h('p', { class: 'back' }, h('a', { href: lastSearchHash() }, '← Back to results')),
    h('h1', { tabindex: '-1' }, 'Choose names and seats'),
    loginNeeded,
    passengersBox,
    legSections,
    h('section', { class: 'card buy-box', 'aria-label': 'Purchase' }, total, buyStatus, h('div', { class: 'actions' }, buy)));

  // -- loading and refreshing one leg's seat map --
  async function loadLeg(i, { conflict = null } = {}) {
    const leg = state.legs[i];
    if (!leg.map) replace(leg.body, spinner('Loading the seat map…'));
    leg.section.setAttribute('aria-busy', 'true');
    try {
      const segment = await endpoints.segment(leg.ref.airline, leg.ref.segment_id);
      if (!ctx.alive()) return;
      leg.segment = segment;
    } catch (error) {
      if (!ctx.alive()) return;
      leg.section.removeAttribute('aria-busy');
      replace(leg.body, errorBox(error, { testid: 'leg-error', retry: () => loadLeg(i) }));
      leg.map = null;
      return;
    }
    leg.section.removeAttribute('aria-busy');
    const segment = leg.segment;
    const free = new Set((segment.seats || []).filter((s) => s.available).map((s) => s.seat));
    let cleared = leg.seats.filter((seat) => seat && !free.has(seat));
    leg.seats = leg.seats.map((seat) => (seat && free.has(seat) ? seat : null));
    if (conflict === 'seat_taken' && cleared.length === 0 && leg.seats.some(Boolean)) {
      // The map cannot tell which seat lost; make the passenger choose this leg again.
      cleared = leg.seats.filter(Boolean);
      leg.seats = leg.seats.map(() => null);
    }
    saveDraft();
    replace(leg.heading, `Flight ${i + 1} of ${state.legs.length}: `,
      h('span', { class: 'airline-badge', text: airlineName(segment.airline) }), ' ',
      `${segment.flight_no} ${segment.origin} → ${segment.destination}`);
    replace(leg.note,
      h('p', { class: 'muted' }, `${fmtDateTime(segment.departs_at)} → ${fmtTime(segment.arrives_at)} · `,
        `${fmtMoney(segment.price)} per seat · ${segment.seats_available ?? free.size} seats left`),
      conflict && h('p', { class: 'alert warning small', role: 'status', testid: 'leg-refreshed' },
        cleared.length
          ? `The seat map was refreshed; ${cleared.join(', ')} ${cleared.length === 1 ? 'is' : 'are'} no longer free, please pick again.`
          : 'The seat map was refreshed.'));
    leg.map = seatMap({
      segment,
      passengers: count,
      getSeats: () => leg.seats,
      labelOf,
      onChange: (seats) => {
        leg.seats = seats;
        saveDraft();
      },
    });
    replace(leg.body, leg.map.element);
    updateTotal();
  }

  // -- buying --
  function validate() {
    for (let p = 0; p < count; p += 1) {
      const name = state.names[p].trim();
      const length = [...name].length;
      if (length < 1 || length > 100) {
        nameInputs[p].setAttribute('aria-invalid', 'true');
        return { message: `Please enter a name (1-100 characters) for passenger ${p + 1}.`, focus: nameInputs[p] };
      }
    }
    for (const [i, leg] of state.legs.entries()) {
      if (!leg.segment) return { message: `The seat map of flight ${i + 1} is not loaded yet.`, focus: leg.section };
      const p = leg.seats.indexOf(null);
      if (p >= 0) {
        return {
          message: `Please choose a seat for ${labelOf(p)} on flight ${i + 1} (${leg.segment.flight_no}).`,
          focus: leg.map?.focusTarget() || leg.section,
        };
      }
    }
    if (!session.get()) return { message: 'Please log in to buy.', focus: loginNeeded.querySelector('a') };
    return null;
  }

  async function purchase() {
    if (state.busy || state.done) return;
    buyStatus.replaceChildren();
    showLoginNeeded();
    const problem = validate();
    if (problem) {
      buyStatus.appendChild(notice('warning', h('p', { class: 'alert-title', testid: 'buy-problem', text: problem.message })));
      problem.focus?.focus();
      return;
    }
    const body = {
      passengers: state.names.map((name) => ({ name: name.trim() })),
      legs: state.legs.map((leg) => ({ airline: leg.ref.airline, segment_id: leg.ref.segment_id, seats: [...leg.seats] })),
    };
    const signature = JSON.stringify(body);
    if (!state.attempt || state.attempt.signature !== signature) {
      state.attempt = { signature, key: newIdempotencyKey() };
    }
    state.busy = true;
    buy.disabled = true;
    buy.setAttribute('aria-busy', 'true');
    buy.textContent = 'Buying…';
    buyStatus.appendChild(spinner('Booking every flight…'));
    try {
      const pass = await endpoints.book(body, state.attempt.key);
      state.done = true;
      sessionStorage.removeItem(draftKey);
      if (ctx.alive()) showConfirmation(ctx, pass);
    } catch (error) {
      if (!ctx.alive()) return;
      buyStatus.replaceChildren(errorBox(error, { testid: 'booking-error' }));
      if (!error.retryable) state.attempt = null;
      if (error.code === 'seat_taken' || error.code === 'seat_locked') {
        const legs = error.leg !== null && error.leg < state.legs.length ? [error.leg] : state.legs.map((_, i) => i);
        await Promise.all(legs.map((i) => loadLeg(i, { conflict: error.code })));
        if (!ctx.alive()) return;
        state.legs[legs[0]].section.scrollIntoView({ block: 'start', behavior: 'smooth' });
      }
    } finally {
      state.busy = false;
      if (!state.done) {
        buy.disabled = false;
        buy.removeAttribute('aria-busy');
        buy.textContent = state.attempt ? 'Try again' : 'Buy';
      }
    }
  }
  buy.addEventListener('click', purchase);

  state.legs.forEach((_, i) => loadLeg(i));
}

function readDraft(key, count, legs) {
  try {
    const draft = JSON.parse(sessionStorage.getItem(key) || 'null');
    const okList = (list) => Array.isArray(list) && list.length === count;
    if (!draft || !okList(draft.names) || !Array.isArray(draft.seats) || draft.seats.length !== legs) return null;
    if (!draft.names.every((n) => typeof n === 'string')) return null;
    if (!draft.seats.every((s) => okList(s) && s.every((x) => x === null || typeof x === 'string'))) return null;
    return draft;
  } catch {
    return null;
  }
}

function showConfirmation(ctx, pass) {
  const passengers = Array.isArray(pass.passengers) && pass.passengers.length ? pass.passengers : null;
  const legs = Array.isArray(pass.legs) ? pass.legs : [];
  const link = h('a', { href: `#/pass/${encodeURIComponent(pass.pass_id)}`, class: 'button-link primary', testid: 'pass-link' }, 'View your pass');
  replace(ctx.main,
    h('h1', { tabindex: '-1' }, 'You are booked!'),
    h('section', { class: 'card confirmation', testid: 'booking-confirmation', 'data-pass-id': pass.pass_id },
      notice('success', h('p', { class: 'alert-title' }, 'Every flight is confirmed. Your pass is ready at every airline.')),
      h('p', {}, 'Pass ', h('code', { testid: 'confirmation-pass-id', text: pass.pass_id })),
      h('ul', { class: 'plain summary' }, legs.map((leg) => h('li', {},
        h('span', { class: 'airline-badge', text: airlineName(leg.airline) }), ' ',
        `${leg.flight_no} ${leg.origin} → ${leg.destination}, ${fmtDateTime(leg.departs_at)}`,
        ` · seats ${(Array.isArray(leg.seats) && leg.seats.length ? leg.seats : [leg.seat]).join(', ')}`))),
      passengers && h('p', {}, `${passengers.length === 1 ? 'Passenger' : 'Passengers'}: `,
        passengers.map((p) => p.name).join(', ')),
      h('p', {}, 'Total: ', h('strong', { text: fmtMoney(pass.total_price) })),
      h('div', { class: 'actions' }, link, h('a', { href: '#/passes', class: 'button-link secondary' }, 'All my passes'))));
  ctx.main.querySelector('h1').focus();
}
