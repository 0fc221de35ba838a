// Search: origin, destination (suggested from /api/v1/cities), date, party size and sort order.
// The query lives in the hash (#/search?origin=…), so Back returns to the same results.
// Each route is a card with its legs, connections, price for the party and the fewest seats
// left; "Select" opens the booking screen for it.

import { endpoints } from './api.js';
import {
  h, replace, errorBox, notice, spinner, uid, addMoney, mulMoney, fmtMoney,
  fmtDateTime, fmtTime, fmtDuration, between, todayUtc, airlineName,
} from './dom.js';

const SORTS = [
  ['arrival', 'Earliest arrival'],
  ['price', 'Lowest price'],
  ['duration', 'Shortest trip'],
  ['legs', 'Fewest flights'],
];
const LAST_SEARCH_KEY = 'passcom.lastSearch';

let citiesPromise = null;
function cities() {
  citiesPromise ??= endpoints.cities()
    .then((answer) => (Array.isArray(answer.cities) ? answer.cities.filter((c) => typeof c === 'string') : []))
    .catch(() => {
      citiesPromise = null; // try again on the next visit
      return [];
    });
  return citiesPromise;
}

/** The search as given by the hash, with defaults for what is missing or malformed. */
function readQuery(params) {
  const date = params.get('date') || '';
  const passengers = Number.parseInt(params.get('passengers') || '1', 10);
  const sort = params.get('sort') || 'arrival';
  return {
    origin: (params.get('origin') || '').trim(),
    destination: (params.get('destination') || '').trim(),
    date: /^\d{4}-\d{2}-\d{2}$/.test(date) ? date : todayUtc(),
    passengers: passengers >= 1 && passengers <= 9 ? passengers : 1,
    sort: SORTS.some(([value]) => value === sort) ? sort : 'arrival',
  };
}

function searchHash(query) {
  return `#/search?${new URLSearchParams({
    origin: query.origin, destination: query.destination, date: query.date,
    passengers: String(query.passengers), sort: query.sort,
  })}`;
}

/** Where "Back to results" on the booking screen goes. */
export function lastSearchHash() {
  return sessionStorage.getItem(LAST_SEARCH_KEY) || '#/search';
}

export function renderSearch(ctx) {
  const query = readQuery(ctx.params);
  const listId = uid('cities');
  const datalist = h('datalist', { id: listId });
  const cityInput = (name, label, value) => h('input', {
    id: `search-${name}`, name, type: 'text', required: true, value, autocomplete: 'off',
    maxLength: 100, testid: name, placeholder: label === 'From' ? 'e.g. Porto Alegre' : 'e.g. Recife',
  });
  const origin = cityInput('origin', 'From', query.origin);
  const destination = cityInput('destination', 'To', query.destination);
  origin.setAttribute('list', listId);
  destination.setAttribute('list', listId);
  const date = h('input', { id: 'search-date', name: 'date', type: 'date', required: true, value: query.date, testid: 'date' });
  const passengers = h('select', { id: 'search-passengers', name: 'passengers', testid: 'passengers' },
    Array.from({ length: 9 }, (_, i) => h('option', { value: String(i + 1) }, String(i + 1))));
  passengers.value = String(query.passengers);
  const sort = h('select', { id: 'search-sort', name: 'sort', testid: 'sort' },
    SORTS.map(([value, label]) => h('option', { value }, label)));
  sort.value = query.sort;
  const swap = h('button', {
    type: 'button', class: 'icon-button swap', 'aria-label': 'Swap origin and destination', title: 'Swap',
    onclick: () => {
      [origin.value, destination.value] = [destination.value, origin.value];
    },
  }, '⇄');
  const status = h('div', { class: 'form-status' });
  const submit = h('button', { type: 'submit', class: 'primary', testid: 'search-submit' }, 'Search flights');
  const results = h('section', { class: 'results', testid: 'results', 'aria-live': 'polite', 'aria-label': 'Search results' });

  const field = (label, input, extra = null) => h('div', { class: ['field', `field-${input.name}`] },
    h('label', { for: input.id, text: label }), extra ? h('div', { class: 'with-button' }, input, extra) : input);

  const form = h('form', { class: 'card search-form', testid: 'search-form', role: 'search', novalidate: true },
    h('div', { class: 'grid' },
      field('From', origin),
      field('To', destination, swap),
      field('Date (UTC)', date),
      field('Passengers', passengers),
      field('Sort by', sort)),
    datalist,
    status,
    h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    status.replaceChildren();
    const next = {
      origin: origin.value.trim(), destination: destination.value.trim(), date: date.value,
      passengers: Number(passengers.value), sort: sort.value,
    };
    let problem = null;
    if (!next.origin || !next.destination) problem = 'Please enter where you fly from and where to.';
    else if (next.origin.toLowerCase() === next.destination.toLowerCase()) problem = 'Origin and destination must differ.';
    else if (!/^\d{4}-\d{2}-\d{2}$/.test(next.date)) problem = 'Please choose a date.';
    if (problem) {
      status.appendChild(notice('warning', h('p', { class: 'alert-title', text: problem })));
      (!next.origin ? origin : !next.destination ? destination : date).focus();
      return;
    }
    ctx.navigate(searchHash(next));
  });
  sort.addEventListener('change', () => {
    if (query.origin && query.destination) ctx.navigate(searchHash({ ...query, sort: sort.value }));
  });

  replace(ctx.main, h('h1', { tabindex: '-1' }, 'Find a flight'), form, results);

  cities().then((list) => {
    if (ctx.alive()) replace(datalist, list.map((city) => h('option', { value: city })));
  });

  if (query.origin && query.destination) {
    sessionStorage.setItem(LAST_SEARCH_KEY, searchHash(query));
    runSearch(ctx, query, results, submit);
  } else if (!query.origin) {
    origin.focus();
  }
}

async function runSearch(ctx, query, results, submit) {
  replace(results, spinner('Searching every airline…'));
  submit.disabled = true;
  let answer;
  try {
    answer = await endpoints.routes({
      origin: query.origin, destination: query.destination, date: query.date,
      passengers: String(query.passengers), sort: query.sort, limit: '50',
    });
  } catch (error) {
    if (ctx.alive()) replace(results, errorBox(error, { testid: 'search-error', retry: () => runSearch(ctx, query, results, submit) }));
    return;
  } finally {
    submit.disabled = false;
  }
  if (!ctx.alive()) return;
  const routes = Array.isArray(answer.routes) ? answer.routes : [];
  const unavailable = Array.isArray(answer.unavailable_airlines) ? answer.unavailable_airlines : [];
  // A stale airline did not answer either: its flights come from the last copy this server has.
  const stale = (Array.isArray(answer.stale_airlines) ? answer.stale_airlines : [])
    .map((entry) => (typeof entry === 'string' ? { airline: entry } : entry));
  const silent = [
    ...unavailable.map((code) => h('li', { 'data-airline': code },
      `Airline ${code} did not answer; its flights are missing from these results.`)),
    ...stale.map((entry) => h('li', { 'data-airline': entry.airline, 'data-stale': 'true' },
      `Airline ${entry.airline} did not answer; its flights are shown as they were`
      + `${Number.isFinite(entry.age_secs) ? ` ${entry.age_secs} s ago` : ' a moment ago'}, and their seats may have sold since.`)),
  ];
  replace(results,
    silent.length > 0 && h('div', { class: 'alert warning', role: 'alert', testid: 'unavailable-airlines' },
      h('ul', { class: 'plain' }, silent)),
    answer.complete === false && notice('warning', h('p', { class: 'alert-title', testid: 'incomplete' },
      'These results may be incomplete: not every route could be checked in time. Search again to see more.')),
    h('h2', { class: 'results-title', testid: 'results-count' },
      routes.length === 0 ? 'No routes found'
        : `${routes.length} ${routes.length === 1 ? 'route' : 'routes'} from ${query.origin} to ${query.destination}`),
    routes.length === 0
      ? h('p', { class: 'muted', testid: 'no-routes' },
        `Nothing with ${query.passengers} free ${query.passengers === 1 ? 'seat' : 'seats'} departs on ${query.date}`
        + `${unavailable.length ? ' with the airlines that answered' : ''}. Try another date or city.`)
      : h('ol', { class: 'route-list plain' }, routes.map((route) => h('li', {}, routeCard(ctx, route, query)))));
}

function routeCard(ctx, route, query) {
  const legs = Array.isArray(route.legs) ? route.legs : [];
  const titleId = uid('route');
  const perPassenger = route.total_price || addMoney(legs.map((leg) => leg.price));
  const party = perPassenger && mulMoney(perPassenger, query.passengers);
  const seatsLeft = Number.isFinite(Number(route.seats_available)) && route.seats_available !== null
    ? Number(route.seats_available)
    : Math.min(...legs.map((leg) => Number(leg.seats_available)).filter(Number.isFinite));
  const first = legs[0];
  const last = legs[legs.length - 1];
  const departs = route.departs_at || first?.departs_at;
  const arrives = route.arrives_at || last?.arrives_at;
  const connections = legs.length - 1;

  const items = [];
  legs.forEach((leg, i) => {
    if (i > 0) {
      items.push(h('li', { class: 'connection', testid: 'connection' },
        `Change in ${leg.origin} · ${fmtDuration(between(legs[i - 1].arrives_at, leg.departs_at))} connection`));
    }
    items.push(h('li', { class: 'leg', testid: 'route-leg', 'data-airline': leg.airline },
      h('span', { class: 'airline-badge', title: `Airline ${airlineName(leg.airline)}`, text: airlineName(leg.airline) }),
      h('div', { class: 'leg-body' },
        h('p', { class: 'leg-title' }, h('strong', { text: leg.flight_no }), ` ${leg.origin} → ${leg.destination}`),
        h('p', { class: 'leg-times' },
          h('time', { datetime: leg.departs_at, text: fmtDateTime(leg.departs_at) }), ' → ',
          h('time', { datetime: leg.arrives_at, text: sameDay(leg.departs_at, leg.arrives_at) ? fmtTime(leg.arrives_at) : fmtDateTime(leg.arrives_at) })))));
  });

  return h('article', {
    class: 'card route', testid: 'route', 'aria-labelledby': titleId,
    'data-airlines': legs.map((leg) => leg.airline).join(','),
  },
  h('header', { class: 'route-head' },
    h('h3', { id: titleId, class: 'route-title' },
      `${fmtDateTime(departs)} → ${sameDay(departs, arrives) ? fmtTime(arrives) : fmtDateTime(arrives)}`),
    h('p', { class: 'muted' },
      `${fmtDuration(between(departs, arrives))} · ${connections === 0 ? 'direct' : `${connections} ${connections === 1 ? 'connection' : 'connections'}`}`)),
  h('ol', { class: 'legs plain' }, items),
  h('footer', { class: 'route-foot' },
    h('div', { class: 'price' },
      h('p', { class: 'price-main', testid: 'route-price' }, fmtMoney(party),
        query.passengers > 1 ? h('span', { class: 'muted' }, ` for ${query.passengers} passengers`) : null),
      query.passengers > 1 && h('p', { class: 'muted' }, `${fmtMoney(perPassenger)} per passenger`),
      Number.isFinite(seatsLeft) && h('p', { class: ['seats-left', seatsLeft < 10 ? 'few' : null], testid: 'seats-left' },
        `${seatsLeft} ${seatsLeft === 1 ? 'seat' : 'seats'} left`)),
    h('button', {
      type: 'button', class: 'primary', testid: 'select-route',
      'aria-label': `Select the route departing ${fmtDateTime(departs)}, ${legs.map((l) => l.flight_no).join(', ')}`,
      onclick: () => ctx.navigate(bookingHash(legs, query.passengers)),
    }, 'Select')));
}

/** Both instants fall on the same UTC day, so the second needs only its time. */
function sameDay(a, b) {
  const day = (iso) => {
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? String(iso) : d.toISOString().slice(0, 10);
  };
  return day(a) === day(b);
}

export function bookingHash(legs, passengers) {
  const params = new URLSearchParams({ passengers: String(passengers) });
  for (const leg of legs) params.append('leg', `${leg.airline}/${leg.segment_id}`);
  return `#/book?${params}`;
}
