// Helpers of the browser tests: the federation's addresses, Debian's chromium through
// playwright-core, pages that record console errors and CSP violations, and a small client of
// the public API for what a second passenger does behind the first one's back.

import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));

export function federation() {
  const missing = ['E2E_A', 'E2E_B', 'E2E_C'].filter((name) => !process.env[name]);
  if (missing.length) {
    throw new Error(`set ${missing.join(', ')} to the base URLs of airlines a, b, c (e.g. http://127.0.0.1:8001)`);
  }
  const trim = (url) => url.replace(/\/+$/, '');
  return { a: trim(process.env.E2E_A), b: trim(process.env.E2E_B), c: trim(process.env.E2E_C) };
}

export function screenshotDir() {
  const dir = path.resolve(process.env.E2E_SCREENSHOTS || path.join(here, 'screenshots'));
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function launch() {
  return chromium.launch({
    executablePath: process.env.E2E_CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-quic', '--disable-sync'],
  });
}

// "Failed to load resource: … status of 409" is Chromium reporting an HTTP answer the app
// expected (a lost seat, a wrong password); every other console error is a fault.
const EXPECTED_HTTP = /^Failed to load resource: the server responded with a status of 4\d\d/;

/**
 * A fresh context (its own sessionStorage) and page; `problems()` lists console errors, page
 * errors, CSP violations and alert()/confirm() dialogs seen so far.
 */
export async function openPage(browser, { width = 1280, height = 900 } = {}) {
  const context = await browser.newContext({ viewport: { width, height }, locale: 'en-US', timezoneId: 'America/Sao_Paulo' });
  await context.addInitScript(() => {
    window.__csp = [];
    document.addEventListener('securitypolicyviolation', (event) => {
      window.__csp.push(`${event.violatedDirective} blocked ${event.blockedURI || 'inline'}`);
    });
  });
  const page = await context.newPage();
  page.setDefaultTimeout(30000);
  const seen = [];
  page.on('console', (message) => {
    if (message.type() === 'error' && !EXPECTED_HTTP.test(message.text())) seen.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => seen.push(`page error: ${error.message}`));
  page.on('dialog', async (dialog) => {
    seen.push(`unexpected ${dialog.type()} dialog: ${dialog.message()}`);
    await dialog.dismiss();
  });
  return {
    page,
    context,
    async problems() {
      const csp = await page.evaluate(() => window.__csp || []).catch(() => []);
      return [...seen, ...csp.map((v) => `CSP violation: ${v}`)];
    },
    close: () => context.close(),
  };
}

/** A fresh login of the allowed alphabet [a-z0-9._-]. */
export function newLogin(prefix) {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/** Tomorrow's date in UTC (every demo flight of that day is still ahead). */
export function tomorrowUtc() {
  return new Date(Date.now() + 24 * 3600 * 1000).toISOString().slice(0, 10);
}

/** fetch against one airline; answers {status, headers, body}. */
export async function call(base, pathAndQuery, { method = 'GET', body, token, headers = {} } = {}) {
  const response = await fetch(base + pathAndQuery, {
    method,
    headers: {
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let parsed = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = text;
  }
  return { status: response.status, headers: response.headers, body: parsed };
}

/** Registers a passenger at `base` and logs them in; answers the token. */
export async function passengerToken(base, login, password) {
  const created = await call(base, '/api/v1/accounts', { method: 'POST', body: { login, password } });
  if (created.status !== 201) throw new Error(`register ${login}: ${created.status} ${JSON.stringify(created.body)}`);
  const session = await call(base, '/api/v1/sessions', { method: 'POST', body: { login, password } });
  if (session.status !== 200) throw new Error(`log in ${login}: ${session.status} ${JSON.stringify(session.body)}`);
  return session.body.access_token;
}

/** Logs in through the app's form at `base`. */
export async function logInThroughUi(page, base, login, password) {
  await page.goto(`${base}/#/login`);
  await page.getByLabel('Login').fill(login);
  await page.getByLabel('Password').fill(password);
  await page.getByTestId('auth-submit').click();
  await page.getByTestId('logged-in-as').filter({ hasText: login }).waitFor();
}

/** Runs a search through the form and waits for its answer. */
export async function searchThroughUi(page, { origin, destination, date, passengers = 1 }) {
  await page.getByTestId('nav-search').click();
  // The link's hashchange renders a fresh form a moment later: filling the previous results'
  // form before that loses the input to the new one (then the search is refused as empty).
  await page.waitForFunction(() => location.hash === '#/search' && !document.querySelector('[data-testid="results-count"]'));
  await page.getByLabel('From').fill(origin);
  await page.getByLabel('To', { exact: true }).fill(destination);
  await page.getByLabel('Date (UTC)').fill(date);
  await page.getByLabel('Passengers').selectOption(String(passengers));
  await page.getByTestId('search-submit').click();
  await page.locator('[data-testid="route"], [data-testid="no-routes"], [data-testid="search-error"]').first().waitFor();
}

/** The seats of one leg's map that can be chosen now. */
export async function freeSeats(page, legIndex) {
  const leg = page.getByTestId(`leg-${legIndex}`);
  await leg.getByTestId('seatmap').waitFor();
  return leg.locator('button.seat:not([disabled])').evaluateAll((buttons) => buttons.map((b) => b.dataset.seat));
}

export function pickRandom(list, count) {
  const copy = [...list];
  const out = [];
  while (out.length < count && copy.length) out.push(copy.splice(Math.floor(Math.random() * copy.length), 1)[0]);
  return out;
}
