// Logging in and out of the dashboard on a platform with authentication on (started by
// tests/browser.rs with one simulated camera): the login view stands in for the dashboard
// until a login; a wrong password says so and stays there; a login lands where the user
// was headed, with the user's name and a Log out button in the header, and leaves the
// password nowhere in the page; Log out ends the session on the server (the old cookie gets
// 401); a session ended elsewhere (an API call with the same cookie, another tab) brings
// the login view back by itself (the server ends the page's event stream and live
// WebSockets with the session) and stops the live tiles, also when it is the live
// WebSocket that is refused; a 429 with Retry-After is counted down (answered by the
// test here, so the wait is short and known).

import {
  PASSWORD, USER, ask, check, equal, log, logIn, loginShown, run, screenshot, sessionCookie, until, withCookie,
} from './lib.mjs';

const base = process.env.VIGIL_URL;
const device = process.env.VIGIL_DEVICES.split(',')[0];
const channels = process.env.VIGIL_CHANNELS.split(',');

const loginError = (page) => page.textContent('#login-error');
const pageStatus = (page, path) => page.evaluate(async (p) => (await fetch(p)).status, path);

await run('login', async ({ page, context }) => {
  check(PASSWORD, 'VIGIL_PASSWORD given');

  // Headed for the Sessions view, not logged in: the login view, nothing of the dashboard.
  await page.goto(base + '/#/sessions');
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 10000 });
  check(!(await page.isVisible('nav[role="tablist"]')), 'tabs hidden before login');
  check(!(await page.isVisible('#account')), 'no account or Log out before login');
  check(!(await page.isVisible('#view-sessions')), 'sessions view hidden before login');
  equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'login-user', 'focus on the user field');
  equal(await pageStatus(page, '/api/v1/devices'), 401, 'API before login');
  await screenshot(page, 'login.png');

  // Nothing typed: said before asking the server.
  await page.click('#login-submit');
  equal(await loginError(page), 'Enter your user name.', 'error with no user name');

  // Wrong password: a clear error, still the login view, the field emptied, no cookie.
  await page.fill('#login-user', USER);
  await page.fill('#login-password', `${PASSWORD}-wrong`);
  await page.click('#login-submit');
  await until('the wrong-password error', 5000, async () => (await page.isVisible('#login-error')) && loginError(page));
  equal(await loginError(page), 'Wrong user name or password.', 'error after a wrong password');
  check(await loginShown(page), 'still on the login view after a wrong password');
  equal(await page.inputValue('#login-password'), '', 'password field emptied after the attempt');
  equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'login-password', 'focus back on the password');
  equal(await sessionCookie(context), null, 'no session cookie after a wrong password');

  // The right one: the Sessions view the user was headed for, the user's name, Log out.
  await logIn(page);
  check(await page.isVisible('#view-sessions'), 'lands on the Sessions view it was headed for');
  equal(await page.getAttribute('#tab-sessions', 'aria-selected'), 'true', 'Sessions tab selected');
  equal(await page.textContent('#account-user'), USER, 'user name in the header');
  check(await page.isVisible('#logout'), 'Log out button shown');
  equal(await pageStatus(page, '/api/v1/devices'), 200, 'API after login');
  // The session is a cookie the page's scripts cannot read, and the password is nowhere.
  const cookie = await sessionCookie(context);
  check(cookie, 'session cookie set');
  check(!(await page.evaluate(() => document.cookie)).includes(cookie), 'session cookie hidden from scripts (HttpOnly)');
  const stored = await page.evaluate(() => JSON.stringify([{ ...localStorage }, { ...sessionStorage }]));
  check(!stored.includes(PASSWORD), 'password not in localStorage or sessionStorage');
  equal(await page.inputValue('#login-password'), '', 'password field empty after login');

  // Log out: the login view; the old cookie is refused by the server (the session is gone,
  // not just forgotten by the browser).
  await page.click('#logout');
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 5000 });
  equal(await page.textContent('#login-info'), 'You are logged out.', 'message after logout');
  check(!(await page.isVisible('#account')), 'no account after logout');
  equal((await withCookie(base + '/api/v1/devices', cookie)).status, 401, 'API with the old cookie after logout');
  equal((await withCookie(base + '/api/v1/me', cookie)).status, 401, '/me with the old cookie after logout');
  equal(await pageStatus(page, '/api/v1/devices'), 401, 'API from the page after logout');

  // Mid-use on the Live view, the session is ended elsewhere (an API call with the same
  // cookie, which the browser keeps). The server ends the page's event stream and the
  // tile's WebSocket with it: the login view comes without a click, and the tile stops.
  await page.goto(base + '/#/live');
  await logIn(page);
  const ch0 = `#view-live [data-channel-id="${channels[0]}"] > .ch-play`;
  await until('the channel list', 15000, async () => {
    if (await page.$(ch0)) return true;
    const head = `#view-live .picker-device[data-device-id="${device}"][aria-expanded="false"]`;
    if (await page.$(head)) await page.click(head, { timeout: 1000 }).catch(() => {});
    return false;
  }, 250);
  await page.click(ch0);
  await until('the tile to play', 20000, () => page.$eval('#live-grid .tile[data-slot="0"]', (el) => {
    if (el.dataset.state === 'ended') throw new Error(el.querySelector('.tile-msg').textContent);
    return el.dataset.state === 'playing';
  }));
  equal(await ask(`live_viewers ${channels[0]}`), '1', 'viewers while playing');
  const live = await sessionCookie(context);
  equal((await withCookie(base + '/api/v1/logout', live, { method: 'POST' })).status, 204, 'logout by API call');
  const t0 = Date.now();
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 5000 });
  log(`login view ${Date.now() - t0} ms after the session ended elsewhere`);
  equal(await page.textContent('#login-info'), 'Your session has ended. Log in again.', 'message after the session ended elsewhere');
  await until('the tile to stop watching', 5000, async () => (await ask(`live_viewers ${channels[0]}`)) === '0', 200);
  await logIn(page);
  check(await page.isVisible('#view-live'), 'back on the Live view after logging in again');

  // Another tab of this browser logs out: this one shows the login view at once.
  const other = await context.newPage();
  await other.goto(base + '/#/devices');
  await other.waitForSelector('#logout', { state: 'visible', timeout: 10000 });
  await other.click('#logout');
  await other.waitForSelector('#login-form', { state: 'visible', timeout: 5000 });
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 5000 });
  // The server ends this tab's event stream during the other tab's logout request, before
  // that tab tells the others: the message names the other tab once its word arrives.
  await page
    .waitForFunction(() => document.querySelector('#login-info')?.textContent === 'You logged out in another tab.', null, { timeout: 3000 })
    .catch(() => {});
  equal(await page.textContent('#login-info'), 'You logged out in another tab.', 'message in the other tab');
  await other.close();

  // The session ends between the live request and the WebSocket it returns (the browser
  // hides the WebSocket's 401 from the page): the login view too, not a broken tile.
  await logIn(page);
  check(await page.isVisible('#view-live'), 'on the Live view again');
  // The session list that the live_started event has the page reload would race the
  // WebSocket to the 401: it waits until the login view is there.
  const held = [];
  await page.route('**/api/v1/live', (route) => held.push(route));
  // The event stream would bring the login view as well (the server ends it with the
  // session): without it, the refused WebSocket is the only way the page can learn.
  await page.evaluate(() => window.vigil.feed.stop());
  await page.route('**/api/v1/channels/*/live', async (route) => {
    const answer = await route.fetch();
    const gone = await withCookie(base + '/api/v1/logout', await sessionCookie(context), { method: 'POST' });
    equal(gone.status, 204, 'logout between the live request and its WebSocket');
    await route.fulfill({ response: answer });
  });
  await until('the channel to be listed', 10000, () => page.$(ch0));
  const asked = [];
  const onRequest = (r) => asked.push(`${r.method()} ${new URL(r.url()).pathname}`);
  const onSocket = (w) => asked.push(`WS ${new URL(w.url()).pathname}`);
  page.on('request', onRequest);
  page.on('websocket', onSocket);
  await page.click(ch0);
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 10000 });
  page.off('request', onRequest);
  page.off('websocket', onSocket);
  equal(await page.textContent('#login-info'), 'Your session has ended. Log in again.', 'message after a refused WebSocket');
  // It was the refused WebSocket that asked whether the session lives (GET /api/v1/me),
  // not a later poll of the tile's stats that happened to get a 401.
  const ws = asked.findIndex((r) => /^WS \/live\/.*\/ws$/.test(r));
  check(ws >= 0 && asked.indexOf('GET /api/v1/me') > ws, `requests until the login view: ${asked.join(', ')}`);
  await page.unroute('**/api/v1/channels/*/live');
  await page.unroute('**/api/v1/live');
  for (const r of held) await r.abort().catch(() => {});

  // A 429 (too many failed logins) with Retry-After: the wait is counted down and the
  // button waits with it, then the form is usable again.
  await page.route('**/api/v1/login', (route) => route.fulfill({
    status: 429,
    headers: { 'retry-after': '2', 'content-type': 'application/json' },
    body: JSON.stringify({ error: { code: 'too_many_requests', message: 'too many failed logins' } }),
  }));
  await page.fill('#login-user', USER);
  await page.fill('#login-password', PASSWORD);
  await page.click('#login-submit');
  await until('the rate-limit message', 5000, async () => /Too many/.test(await loginError(page)));
  equal(await loginError(page), 'Too many failed logins. Try again in 2 s.', 'message on 429');
  check(await page.isDisabled('#login-submit'), 'Log in disabled while rate limited');
  equal(await page.inputValue('#login-password'), '', 'password field emptied on 429');
  await until('the wait to end', 4000, async () => !(await page.isDisabled('#login-submit')));
  equal(await loginError(page), '', 'message gone after the wait');
  await page.unroute('**/api/v1/login');
  await logIn(page);
});
