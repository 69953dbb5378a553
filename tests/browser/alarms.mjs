// Alarms in the dashboard (tests/browser.rs starts a platform with two simulated cameras): an
// alarm a camera sends shows at once as a toast, a count on the header's Alarms button and a
// badge on the device's row; the list under the button names the kind (GB/T 28181 method and
// type), priority, device time, channel and description, newest first; looking at it clears
// the count. Then the session is ended from outside the page (a logout with its cookie): the
// server ends the event stream and the page goes to the login view by itself.

import { ask, check, equal, log, logIn, run, screenshot, sessionCookie, until, withCookie } from './lib.mjs';

const base = process.env.VIGIL_URL;
const ids = process.env.VIGIL_DEVICES.split(',');
const channels = (process.env.VIGIL_CHANNELS || '').split(',').filter(Boolean);

const row = (id) => `tr.device[data-device-id="${id}"]`;

await run('alarms', async ({ page, context }) => {
  await page.goto(base + '/');
  await logIn(page);
  await page.waitForSelector(row(ids[1]), { timeout: 10000 });
  // Alarms come over the event stream: wait until it is connected.
  await page.waitForSelector('#conn[data-mode="live"]', { timeout: 10000 });
  check(await page.isVisible('#alarms-button'), 'Alarms button in the header');
  check(!(await page.isVisible('#alarms-count')), 'no alarm count before any alarm');

  // Video loss on device 0, channel 1, as an NVR reports it (GB2312 on the wire).
  equal(await ask('alarm 0 1 208 1 2 1 视频丢失 东门'), 'ok', 'the camera sends an alarm');
  const t0 = Date.now();
  await page.waitForSelector('#alarms-count:visible', { timeout: 5000 });
  log(`alarm on the page ${Date.now() - t0} ms after the camera sent it`);
  equal(await page.textContent('#alarms-count'), '1', 'count of new alarms');
  const toastText = await until('an alarm toast', 3000, () => page.$$eval('.toast.alarm', (ts) => ts.map((t) => t.textContent).join(' | ')));
  check(toastText.includes('Video loss') && toastText.includes('视频丢失 东门'), `toast: ${toastText}`);
  equal(await page.textContent(`${row(ids[0])} .alarm-badge`), '⚠ 1', 'alarm badge on the device row');
  check(!(await page.isVisible(`${row(ids[1])} .alarm-badge`)), 'no badge on the other device');

  // The list: opening it clears the count.
  await page.click('#alarms-button');
  await page.waitForSelector('#alarms-panel:visible');
  check(!(await page.isVisible('#alarms-count')), 'count cleared once the list is open');
  const first = await page.$eval('#alarm-list li.alarm', (li) => ({ device: li.dataset.deviceId, channel: li.dataset.channelId, text: li.textContent, cls: li.className }));
  equal(first.device, ids[0], 'alarm device');
  equal(first.channel, channels[1], 'alarm channel');
  for (const part of ['P1', 'Video loss', '2026-11-26 10:15:30', '视频丢失 东门', channels[1]]) {
    check(first.text.includes(part), `list item has ${part}: ${first.text}`);
  }
  check(first.cls.includes('p1'), `priority 1 is marked: ${first.cls}`);

  // A second alarm while the list is open: on top, and seen at once.
  equal(await ask('alarm 1 0 9 3 5 2'), 'ok', 'the other camera sends a motion alarm');
  await until('the second alarm on top of the list', 5000, async () =>
    (await page.$$eval('#alarm-list li.alarm', (ls) => ls.map((l) => l.dataset.deviceId))).join() === [ids[1], ids[0]].join());
  const top = await page.textContent('#alarm-list li.alarm');
  check(top.includes('Motion detection') && top.includes('P3'), `second alarm: ${top}`);
  check(!(await page.isVisible('#alarms-count')), 'an alarm that arrives with the list open is seen');
  await screenshot(page, 'dashboard-alarms.png');
  await page.keyboard.press('Escape');
  check(!(await page.isVisible('#alarms-panel')), 'Escape closes the list');
  equal(await page.evaluate(() => document.activeElement && document.activeElement.id), 'alarms-button', 'focus back on the button');

  // The session ends outside this page: the event stream ends and the page logs out.
  const cookie = await sessionCookie(context);
  check(cookie, 'session cookie');
  const r = await withCookie(`${base}/api/v1/logout`, cookie, { method: 'POST' });
  equal(r.status, 204, 'logout with the page\'s cookie');
  const t1 = Date.now();
  await page.waitForSelector('#view-login', { state: 'visible', timeout: 5000 });
  log(`login view ${Date.now() - t1} ms after the session ended elsewhere`);
  const info = await page.textContent('#view-login');
  check(/session has ended/i.test(info), `login view says why: ${info}`);
  check(!(await page.isVisible('#alarms-button')), 'no Alarms button when logged out');
});
