// DOM building and formatting helpers. Everything the server or the user sends reaches the
// page through textContent or a property, never through HTML parsing, so a name like
// "<script>" is shown as text. The Content-Security-Policy forbids inline scripts and style
// attributes, so classes do the styling and listeners are attached with addEventListener.

import { friendlyMessage, secondaryDetail } from './api.js';

/**
 * h('button', {class: 'primary', testid: 'buy', onclick: fn, disabled: true}, 'Buy')
 * Props: class, testid, text, on<event> (a function), any DOM property that exists on the
 * element (value, disabled, href, type, …) and otherwise an attribute (aria-*, data-*, for, …).
 * Children: nodes, strings (as text), numbers, arrays, null/undefined/false (skipped).
 */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : value;
    else if (key === 'testid') el.dataset.testid = value;
    else if (key === 'text') el.textContent = String(value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key === 'style' || key.startsWith('on')) throw new Error(`h(): refusing ${key}`);
    else if (key in el && !key.includes('-') && key !== 'list' && key !== 'form') el[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else if (child instanceof Node) el.appendChild(child);
    else el.appendChild(document.createTextNode(String(child)));
  }
}

/** Replaces every child of `el` with `children`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A spinner with a label; `testid` is left to the caller (the global indicator owns "loading"). */
export function spinner(label = 'Loading…') {
  return h('p', { class: 'placeholder', role: 'status', 'aria-busy': 'true' },
    h('span', { class: 'spinner', 'aria-hidden': 'true' }), label);
}

let idCounter = 0;
/** A unique element id, for label/for and aria-labelledby pairs. */
export function uid(prefix = 'id') {
  idCounter += 1;
  return `${prefix}-${idCounter}`;
}

// ---- money: decimal strings, added and multiplied exactly with BigInt -----------------------

function toScaled(amount) {
  const match = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(amount).trim());
  if (!match) return null;
  const [, sign, whole, frac = ''] = match;
  const units = BigInt(whole + frac);
  return { units: sign ? -units : units, scale: frac.length };
}

function fromScaled({ units, scale }) {
  const negative = units < 0n;
  let digits = (negative ? -units : units).toString().padStart(scale + 1, '0');
  if (scale > 0) digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  return (negative ? '-' : '') + digits;
}

/** Sum of money values of one currency, `null` if they mix currencies or do not parse. */
export function addMoney(values) {
  if (!values.length) return null;
  const currency = values[0].currency;
  const scale = Math.max(...values.map((v) => toScaled(v.amount)?.scale ?? 0));
  let units = 0n;
  for (const v of values) {
    const s = toScaled(v.amount);
    if (!s || v.currency !== currency) return null;
    units += s.units * 10n ** BigInt(scale - s.scale);
  }
  return { amount: fromScaled({ units, scale }), currency };
}

/** money × n (n an integer), exactly. */
export function mulMoney(money, n) {
  const s = toScaled(money.amount);
  if (!s) return null;
  return { amount: fromScaled({ units: s.units * BigInt(n), scale: s.scale }), currency: money.currency };
}

/** "R$ 349.90" in the browser's locale; the decimal string goes to Intl as is (no float). */
export function fmtMoney(money) {
  if (!money) return '—';
  try {
    return new Intl.NumberFormat(undefined, { style: 'currency', currency: money.currency }).format(money.amount);
  } catch {
    return `${money.amount} ${money.currency}`;
  }
}

// ---- time: shown in UTC, labelled, so that nobody has to guess the zone ---------------------

const dateTimeFormat = new Intl.DateTimeFormat(undefined, {
  timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23',
});
const timeFormat = new Intl.DateTimeFormat(undefined, { timeZone: 'UTC', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
const dateFormat = new Intl.DateTimeFormat(undefined, {
  timeZone: 'UTC', weekday: 'short', day: 'numeric', month: 'short', year: 'numeric',
});

/** "Sat, Nov 22, 12:00 UTC" */
export function fmtDateTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : `${dateTimeFormat.format(d)} UTC`;
}

/** "12:00 UTC" */
export function fmtTime(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : `${timeFormat.format(d)} UTC`;
}

/** "Sat, Nov 22, 2026" (the UTC day) */
export function fmtDate(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? String(iso) : dateFormat.format(d);
}

/** "3 h 05 min" */
export function fmtDuration(ms) {
  const minutes = Math.max(0, Math.round(ms / 60000));
  const hours = Math.floor(minutes / 60);
  const rest = String(minutes % 60).padStart(hours ? 2 : 1, '0');
  return hours ? `${hours} h ${rest} min` : `${rest} min`;
}

export function between(fromIso, toIso) {
  return new Date(toIso).getTime() - new Date(fromIso).getTime();
}

/** Today's date in UTC as YYYY-MM-DD (the value format of <input type="date">). */
export function todayUtc() {
  return new Date().toISOString().slice(0, 10);
}

/** Display form of an airline code: "a" → "A". */
export function airlineName(code) {
  return String(code ?? '?').toUpperCase();
}

/** A readable error: the friendly sentence, the server's detail for 4xx, an optional retry. */
export function errorBox(error, { testid = 'error', retry = null } = {}) {
  const detail = secondaryDetail(error);
  return h('div', { class: 'alert error', role: 'alert', testid, 'data-code': error?.code || (error?.network ? 'network' : 'error') },
    h('p', { class: 'alert-title', text: friendlyMessage(error) }),
    detail && h('p', { class: 'alert-detail', text: detail }),
    retry && h('button', { type: 'button', class: 'secondary', onclick: retry, testid: 'retry' }, 'Try again'));
}

/** A notice (not an error): kind is info, warning or success. */
export function notice(kind, ...children) {
  return h('div', { class: `alert ${kind}`, role: kind === 'warning' ? 'alert' : 'status' }, ...children);
}
