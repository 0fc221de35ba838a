// One leg's seat map: a grid of seat buttons (row number + letter, e.g. "12C"), an aisle in the
// middle, taken seats disabled. A click gives the seat to the first passenger without one on
// this leg; a click on a chosen seat gives it back. Arrow keys move between seats (one seat of
// the map is in the tab order at a time), Enter or Space chooses.

import { h, replace } from './dom.js';

const SEAT = /^(\d{1,3})([A-Z]{1,2})$/;

/**
 * seatMap({segment, passengers, getSeats, labelOf, onChange}) → {element, update, focusTarget}
 * getSeats() is the leg's seats in passenger order (null = none yet); onChange(seats) stores a
 * new list; labelOf(p) names passenger p in sentences.
 */
export function seatMap({ segment, passengers, getSeats, labelOf, onChange }) {
  const seats = Array.isArray(segment.seats) ? segment.seats : [];
  const parsed = seats.map((s) => ({ ...s, match: SEAT.exec(String(s.seat)) }));
  const rows = [...new Set(parsed.filter((s) => s.match).map((s) => Number(s.match[1])))].sort((a, b) => a - b);
  const letters = [...new Set(parsed.filter((s) => s.match).map((s) => s.match[2]))].sort();
  const aisleAfter = letters.length > 2 ? Math.ceil(letters.length / 2) - 1 : -1;
  const buttons = new Map(); // seat code → button
  const grid = rows.map(() => letters.map(() => null)); // [row][letter] → button

  const status = h('p', { class: 'seat-status', role: 'status', testid: 'seat-status' });
  const assignments = h('ul', { class: 'assignments plain', testid: 'assignments' });

  const button = (s) => {
    const b = h('button', {
      type: 'button', class: 'seat', testid: `seat-${s.seat}`, 'data-seat': s.seat, tabindex: '-1',
      disabled: !s.available,
    });
    b.addEventListener('click', () => toggle(s.seat));
    buttons.set(s.seat, b);
    return b;
  };

  const head = h('div', { class: 'seat-row head', 'aria-hidden': 'true' },
    letters.map((letter, li) => [h('span', { class: 'seat-label', text: letter }),
      li === aisleAfter ? h('span', { class: 'aisle' }) : null]));
  const byCode = new Map(parsed.filter((s) => s.match).map((s) => [s.seat, s]));
  const body = rows.map((row, ri) => h('div', { class: 'seat-row', 'data-row': String(row) },
    letters.map((letter, li) => {
      const s = byCode.get(`${row}${letter}`);
      const cell = s ? button(s) : h('span', { class: 'seat-gap', 'aria-hidden': 'true' });
      if (s) grid[ri][li] = cell;
      return [cell, li === aisleAfter ? h('span', { class: 'aisle', 'aria-hidden': 'true', text: String(row) }) : null];
    }),
    aisleAfter < 0 ? h('span', { class: 'aisle', 'aria-hidden': 'true', text: String(row) }) : null));
  const odd = parsed.filter((s) => !s.match);
  const map = h('div', {
    class: 'seatmap', role: 'group', testid: 'seatmap',
    'aria-label': `Seat map of flight ${segment.flight_no}. Arrow keys move between seats; Enter or Space chooses.`,
  }, head, body, odd.length > 0 && h('div', { class: 'seat-row other' }, odd.map(button)));
  map.addEventListener('keydown', onKeydown);

  const element = h('div', { class: 'seatmap-wrap' },
    h('div', { class: 'seat-side' },
      assignments,
      status,
      h('p', { class: 'legend', 'aria-hidden': 'true' },
        h('span', { class: 'seat sample' }, 'A'), ' free ',
        h('span', { class: 'seat sample selected' }, '1'), ' chosen ',
        h('span', { class: 'seat sample', 'data-taken': '' }, 'A'), ' taken')),
    h('div', { class: 'seatmap-scroll' }, map));

  function toggle(code) {
    const current = [...getSeats()];
    const holder = current.indexOf(code);
    if (holder >= 0) {
      current[holder] = null;
      status.textContent = `Seat ${code} is free again.`;
    } else {
      const p = current.indexOf(null);
      if (p < 0) {
        status.textContent = 'Every passenger has a seat on this flight. Click a chosen seat to give it back first.';
        return;
      }
      current[p] = code;
      status.textContent = `Seat ${code} is now ${labelOf(p)}’s.`;
    }
    onChange(current);
    update();
  }

  function update() {
    const current = getSeats();
    for (const [code, b] of buttons) {
      const p = current.indexOf(code);
      const taken = b.disabled;
      b.classList.toggle('selected', p >= 0);
      b.toggleAttribute('data-taken', taken);
      b.dataset.state = taken ? 'taken' : p >= 0 ? 'selected' : 'available';
      b.textContent = p >= 0 ? String(p + 1) : code.replace(/^\d+/, '');
      b.setAttribute('aria-pressed', String(p >= 0));
      const label = taken ? `Seat ${code}, taken` : p >= 0 ? `Seat ${code}, chosen for ${labelOf(p)}` : `Seat ${code}, available`;
      b.setAttribute('aria-label', label);
      b.title = label;
    }
    replace(assignments, current.map((code, p) => h('li', {
      testid: 'assignment', 'data-passenger': String(p), 'data-seat': code || '',
    }, h('span', { class: 'seat-dot', 'aria-hidden': 'true', text: String(p + 1) }), ' ',
    `${labelOf(p).replace(/^p/, 'P')}: `, h('strong', { text: code || 'no seat yet' }))));
    // Exactly one seat takes part in the tab order: a chosen one, else the first free one.
    const target = focusTarget();
    for (const b of buttons.values()) b.tabIndex = b === target ? 0 : -1;
  }

  function focusTarget() {
    const chosen = getSeats().find((code) => code && buttons.get(code) && !buttons.get(code).disabled);
    if (chosen) return buttons.get(chosen);
    const focused = [...buttons.values()].find((b) => b.tabIndex === 0 && !b.disabled);
    return focused || [...buttons.values()].find((b) => !b.disabled) || null;
  }

  function onKeydown(event) {
    const from = event.target.closest('button.seat');
    if (!from) return;
    let ri = -1;
    let li = -1;
    grid.forEach((row, r) => row.forEach((b, l) => {
      if (b === from) [ri, li] = [r, l];
    }));
    if (ri < 0) return;
    const free = (r, l) => grid[r]?.[l] && !grid[r][l].disabled ? grid[r][l] : null;
    let to = null;
    const scan = (dr, dl) => {
      for (let r = ri + dr, l = li + dl; r >= 0 && r < grid.length && l >= 0 && l < letters.length; r += dr, l += dl) {
        if (free(r, l)) return free(r, l);
      }
      return null;
    };
    switch (event.key) {
      case 'ArrowRight': to = scan(0, 1) || nextInOrder(1); break;
      case 'ArrowLeft': to = scan(0, -1) || nextInOrder(-1); break;
      case 'ArrowDown': to = scan(1, 0); break;
      case 'ArrowUp': to = scan(-1, 0); break;
      case 'Home': to = grid[ri].find((b) => b && !b.disabled); break;
      case 'End': to = [...grid[ri]].reverse().find((b) => b && !b.disabled); break;
      default: return;
    }
    event.preventDefault();
    if (!to) return;
    from.tabIndex = -1;
    to.tabIndex = 0;
    to.focus();

    function nextInOrder(step) {
      const flat = grid.flat().filter((b) => b && !b.disabled);
      const at = flat.indexOf(from);
      return flat[at + step] || null;
    }
  }

  update();
  return { element, update, focusTarget };
}
