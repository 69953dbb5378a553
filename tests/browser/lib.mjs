// Shared by the browser scripts that tests/browser.rs runs: headless Debian Chromium through
// playwright-core, a line protocol back to the Rust test over stdio ("@@ <command>" out, one
// answer line in), and small assertion helpers. A script exits non-zero on the first failure.

import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();

// Asks the Rust side to do something (unplug a device, count INVITEs); returns its answer.
export async function ask(command) {
  process.stdout.write(`@@ ${command}\n`);
  const { value, done } = await lines.next();
  if (done) throw new Error(`no answer to ${command}`);
  return value;
}

export function log(...args) {
  console.log(...args);
}

export class Failure extends Error {}

export function check(cond, what) {
  if (!cond) throw new Failure(what);
}

export function equal(got, want, what) {
  if (got !== want) throw new Failure(`${what}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`);
}

export const CHROMIUM = process.env.VIGIL_CHROMIUM || '/usr/bin/chromium';

export async function launch({ width = 1280, height = 800 } = {}) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vigil-chromium-'));
  const context = await chromium.launchPersistentContext(dir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width, height },
    args: [
      '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (process.env.VIGIL_BROWSER_CONSOLE) log(`[console.${m.type()}] ${m.text()}`);
  });
  const close = async () => {
    await context.close().catch(() => {});
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { context, page, errors, close };
}

// Runs `body` with a browser; prints the outcome line the Rust test looks for and exits.
export async function run(name, body) {
  const started = Date.now();
  let b = null;
  try {
    b = await launch();
    await body(b);
    if (b.errors.length) throw new Failure(`uncaught errors in the page: ${b.errors.join(' | ')}`);
    log(`ok: ${name} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    await b.close();
    rl.close();
    process.exit(0);
  } catch (e) {
    log(`FAILED: ${name}: ${e instanceof Failure ? e.message : e.stack || e}`);
    if (b) {
      if (process.env.VIGIL_FAILURE_SHOT) await b.page.screenshot({ path: process.env.VIGIL_FAILURE_SHOT }).catch(() => {});
      await b.close();
    }
    rl.close();
    process.exit(1);
  }
}

// Polls `fn` (in node) until it returns a truthy value; fails with `what` after `ms`.
export async function until(what, ms, fn, every = 100) {
  const end = Date.now() + ms;
  let last;
  while (Date.now() < end) {
    last = await fn();
    if (last) return last;
    await new Promise((r) => setTimeout(r, every));
  }
  throw new Failure(`timed out after ${ms} ms waiting for ${what}${last !== undefined ? ` (last: ${JSON.stringify(last)})` : ''}`);
}

export async function screenshot(page, name) {
  const dir = process.env.VIGIL_SCREENSHOTS;
  if (!dir) return;
  const file = path.join(dir, name);
  await page.screenshot({ path: file });
  log(`screenshot ${file}`);
}

// The login the platform was started with (tests/browser.rs passes them).
export const USER = process.env.VIGIL_USER || 'admin';
export const PASSWORD = process.env.VIGIL_PASSWORD || '';

export const loginShown = (page) => page.isVisible('#view-login');

// Logs in through the dashboard's form, which must be showing; waits for the dashboard.
export async function logIn(page, { user = USER, password = PASSWORD } = {}) {
  await page.waitForSelector('#login-form', { state: 'visible', timeout: 10000 });
  await page.fill('#login-user', user);
  await page.fill('#login-password', password);
  await page.click('#login-submit');
  await page.waitForSelector('#view-login', { state: 'hidden', timeout: 10000 });
  await page.waitForSelector('nav[role="tablist"]', { state: 'visible', timeout: 5000 });
}

// The session cookie the browser holds (HttpOnly: only the browser side can read it).
export async function sessionCookie(context) {
  const c = (await context.cookies()).find((c) => c.name === 'vigil_session');
  return c ? c.value : null;
}

// An HTTP request from node (not the page) with `cookie` as the session.
export function withCookie(url, cookie, init = {}) {
  return fetch(url, { ...init, headers: { ...(init.headers || {}), cookie: `vigil_session=${cookie}` } });
}
