// The dashboard on a platform with authentication off (GET /api/v1/me says auth_enabled
// false): no login view, no user and no Log out button; the devices are there at once.

import { check, equal, run } from './lib.mjs';

const base = process.env.VIGIL_URL;
const device = process.env.VIGIL_DEVICES.split(',')[0];

await run('dashboard without auth', async ({ page }) => {
  await page.goto(base + '/#/sessions');
  await page.waitForSelector('#view-sessions', { state: 'visible', timeout: 10000 });
  await page.click('#tab-devices');
  await page.waitForSelector(`tr.device[data-device-id="${device}"]`, { timeout: 10000 });
  const me = await page.evaluate(async () => (await fetch('/api/v1/me')).json());
  equal(me.auth_enabled, false, '/api/v1/me auth_enabled');
  check(!(await page.isVisible('#view-login')), 'no login view');
  check(!(await page.isVisible('#account')), 'no user name or Log out button');
  check(!(await page.isVisible('#logout')), 'no Log out button');
  check(await page.isVisible('nav[role="tablist"]'), 'tabs shown');
});
