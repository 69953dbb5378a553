// Too many failed logins against the real server (tests/browser.rs starts it with a small
// `[auth] login_fail_limit` and a short `login_block`): the server's 429 is shown with its
// Retry-After counted down and the button disabled, on the login view; after the block the
// right password logs in.

import { PASSWORD, USER, check, equal, log, loginShown, run, until } from './lib.mjs';

const base = process.env.VIGIL_URL;
const limit = Number(process.env.VIGIL_LOGIN_LIMIT);
const blockS = Number(process.env.VIGIL_LOGIN_BLOCK_S);

const loginError = (page) => page.textContent('#login-error');

// Sends the form and waits for its answer: the error text shown.
async function attempt(page, password) {
  await page.fill('#login-user', USER);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  return until('an answer to the login', 10000, async () => {
    const text = await loginError(page);
    return (/Too many/.test(text) || !(await page.isDisabled('#login-submit'))) && text;
  });
}

await run('login rate limit', async ({ page }) => {
  check(limit > 0 && blockS > 0, 'VIGIL_LOGIN_LIMIT and VIGIL_LOGIN_BLOCK_S given');
  await page.goto(base + '/');
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 10000 });

  let text = '';
  let tries = 0;
  while (tries < limit + 1) {
    text = await attempt(page, `${PASSWORD}-wrong-${tries}`);
    tries++;
    if (/Too many/.test(text)) break;
    equal(text, 'Wrong user name or password.', `error after wrong password ${tries}`);
  }
  log(`429 after ${tries} wrong passwords (limit ${limit}): ${text}`);
  check(/^Too many failed logins\. Try again in \d+ s\.$/.test(text), `message on 429: ${text}`);
  const wait = Number(text.match(/in (\d+) s/)[1]);
  check(wait >= 1 && wait <= blockS, `wait ${wait} s within the block of ${blockS} s`);
  check(await page.isDisabled('#login-submit'), 'Log in disabled while blocked');
  check(await loginShown(page), 'still on the login view when blocked');

  // When the countdown ends the server still blocks for a moment at most: the right
  // password may get one more 429, then it logs in.
  await until('the countdown to end', (wait + 2) * 1000, async () => !(await page.isDisabled('#login-submit')), 200);
  const started = Date.now();
  for (;;) {
    await page.fill('#login-user', USER);
    await page.fill('#login-password', PASSWORD);
    await page.click('#login-submit');
    const done = await until('the login to answer', 10000, async () =>
      (!(await loginShown(page)) && 'in') || (/Too many/.test(await loginError(page)) && 'blocked'));
    if (done === 'in') break;
    check(Date.now() - started < (blockS + 2) * 1000, 'still blocked well after the block');
    await until('the countdown to end', (blockS + 2) * 1000, async () => !(await page.isDisabled('#login-submit')), 200);
  }
  await page.waitForSelector('#logout', { state: 'visible', timeout: 5000 });
  log('logged in after the block');
});
