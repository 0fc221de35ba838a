// The staff page (/staff) in a real browser against the running federation: a passenger cannot
// use it, staff of airline a (the demo account `ops` that scripts/federation creates) see a
// sale appear in the live event list as it is made, and the sales table. Uses airline a only,
// so it runs after app.test.mjs has stopped airline c.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { federation, screenshotDir, launch, openPage, newLogin, call, passengerToken } from '../lib.mjs';

const STAFF_LOGIN = process.env.E2E_STAFF_LOGIN || 'ops';
const STAFF_PASSWORD = process.env.E2E_STAFF_PASSWORD || 'ops correct horse';
const PASSWORD = 'e2e correct horse';

describe('PassCom staff page', () => {
  let urls;
  let shots;
  let browser;
  let p;

  before(async () => {
    urls = federation();
    shots = screenshotDir();
    browser = await launch();
    p = await openPage(browser);
  });

  after(async () => {
    await p?.close().catch(() => {});
    await browser?.close();
  });

  test('the staff page is served with the same strict Content-Security-Policy', async () => {
    const page = await fetch(`${urls.a}/staff`);
    assert.equal(page.status, 200);
    const csp = page.headers.get('content-security-policy') || '';
    assert.ok(csp.includes("script-src 'self'") && !/unsafe-inline|unsafe-eval/.test(csp), csp);
    const html = await page.text();
    assert.ok(!html.includes('<script>') && !/ on\w+=/.test(html), 'no inline script');
    assert.equal((await fetch(`${urls.a}/staff.js`)).status, 200);
  });

  test('a passenger cannot use the staff page', async () => {
    const login = newLogin('e2e-pax');
    await passengerToken(urls.a, login, PASSWORD);
    await p.page.goto(`${urls.a}/staff`);
    await p.page.getByLabel('Login').fill(login);
    await p.page.getByLabel('Password').fill(PASSWORD);
    await p.page.getByTestId('staff-submit').click();
    await p.page.getByText('This account is not staff of airline A.').waitFor();
    const answer = await call(urls.a, '/api/v1/airline/sales', { token: await token(login, PASSWORD) });
    assert.equal(answer.status, 403);
    assert.equal(answer.body.code, 'forbidden');
  });

  test('staff see a sale appear live, and the sales table', async () => {
    const { page } = p;
    await page.getByLabel('Login').fill(STAFF_LOGIN);
    await page.getByLabel('Password').fill(STAFF_PASSWORD);
    await page.getByTestId('staff-submit').click();
    await page.getByTestId('stream-status').filter({ hasText: 'Live' }).waitFor();
    await page.getByTestId('sales-days').waitFor();

    // A passenger buys a seat on one of a's flights behind the staff member's back.
    const segments = await call(urls.a, '/api/v1/segments?airline=a&limit=1');
    const segment = segments.body.segments[0];
    const detail = await call(urls.a, `/api/v1/segments/a/${segment.segment_id}`);
    const seat = detail.body.seats.find((s) => s.available).seat;
    const buyer = await passengerToken(urls.a, newLogin('e2e-buyer'), PASSWORD);
    const sold = await call(urls.a, '/api/v1/bookings', {
      method: 'POST', token: buyer, body: { legs: [{ airline: 'a', segment_id: segment.segment_id, seat }] },
    });
    assert.equal(sold.status, 201, JSON.stringify(sold.body));

    const sale = page.locator('[data-testid="event"][data-kind="sale"]').filter({ hasText: segment.segment_id });
    await sale.first().waitFor({ timeout: 5000 });
    await page.getByTestId('sales-load').click();
    // The table is drawn again with the sale counted: at least one seat sold on that flight.
    const row = page.getByTestId('sales-segments').locator('tr')
      .filter({ hasText: segment.segment_id }).filter({ hasText: /UTC.*[1-9]\d* \/ \d+/ });
    await row.first().waitFor();
    await page.screenshot({ path: path.join(shots, 'staff.png'), fullPage: true });
    assert.deepEqual(await p.problems(), [], 'console errors, page errors or CSP violations');
  });
});

async function token(login, password) {
  const session = await call(federation().a, '/api/v1/sessions', { method: 'POST', body: { login, password } });
  return session.body.access_token;
}
