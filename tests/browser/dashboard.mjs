// The dashboard against a platform with simulated cameras and authentication on (started by
// tests/browser.rs): the user logs in through the form; the devices appear; search and the online filter work; a device that goes silent in the
// simulator turns offline on the page without a reload. When the server has live sessions
// (GET /api/v1/live answers), a channel clicked in the Live view plays (time advances 2 s at
// 640x360), a second tile on the same channel joins the same session, and closing both
// tiles ends it; every media path of a session (WebSocket, HTTP fMP4 in a <video>, HLS)
// opens with the login cookie alone. Prints the click-to-first-frame times, cold and joining.

import { USER, ask, check, equal, log, logIn, run, screenshot, until } from './lib.mjs';

const base = process.env.VIGIL_URL;
const ids = process.env.VIGIL_DEVICES.split(',');
const channels = (process.env.VIGIL_CHANNELS || '').split(',').filter(Boolean);
const names = (process.env.VIGIL_CHANNEL_NAMES || '').split(',').filter(Boolean);

const row = (id) => `tr.device[data-device-id="${id}"]`;

await run('dashboard', async ({ page }) => {
  await page.goto(base + '/');
  await logIn(page);
  equal(await page.textContent('#account-user'), USER, 'user name in the header');
  check(await page.isVisible('#logout'), 'Log out button shown');

  // Every device is listed, online.
  await page.waitForSelector(row(ids[ids.length - 1]), { timeout: 10000 });
  for (const id of ids) equal(await page.getAttribute(row(id), 'data-online'), 'true', `device ${id} online`);
  const summary = await page.textContent('#view-devices .summary');
  check(summary.includes(`${ids.length} devices, ${ids.length} online`), `summary: ${summary}`);
  const cells = await page.$$eval(`${row(ids[0])} td`, (tds) => tds.map((t) => t.textContent));
  check(cells.some((t) => t === 'UDP'), `transport shown: ${cells}`);
  check(cells.some((t) => /^127\.0\.0\.1:\d+$/.test(t)), `address shown: ${cells}`);
  check(cells.some((t) => /s ago$/.test(t)), `last seen shown: ${cells}`);
  const mode = await page.getAttribute('#conn', 'data-mode');
  log(`updates: ${mode}`);

  // Search by ID: only that device stays.
  await page.fill('#device-search', ids[1].slice(-4));
  await until('search to narrow the list', 3000, async () =>
    (await page.$$eval('tr.device', (rs) => rs.filter((r) => !r.hidden).map((r) => r.dataset.deviceId))).join() === ids[1]);
  await page.fill('#device-search', '');

  // Keyboard: the search box and the first row's expand button are reachable with Tab.
  await page.focus('#device-search');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Tab');
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.className);
  check(/expand|small/.test(focused || ''), `Tab reaches the device rows (focused: ${focused})`);

  // The first device's channel tree, with the simulator's Chinese names, when the server
  // lists channels; a clear message when it does not.
  await page.click(`${row(ids[0])} button.expand`);
  const detail = `#dev-${ids[0]}-channels`;
  const hasChannels = (await page.evaluate(async (id) => (await fetch(`/api/v1/devices/${id}/channels`)).status, ids[0])) === 200;
  if (hasChannels) {
    const shownNames = await until('the channel tree with names', 15000, async () => {
      // The catalog arrives shortly after registration: reload the tree until it has it.
      const got = await page.$$eval(`${detail} .ch-name`, (els) => els.map((e) => e.textContent));
      if (got.length < channels.length) {
        await page.click(`${row(ids[0])} button.expand`);
        await page.click(`${row(ids[0])} button.expand`);
        return false;
      }
      return got;
    }, 500);
    for (const n of names) check(shownNames.includes(n), `channel name ${n} shown (got ${shownNames})`);
    for (const c of channels) check(await page.$(`${detail} [data-channel-id="${c}"]`), `channel ${c} in the tree`);
    log(`channels of ${ids[0]}: ${shownNames.join(', ')}`);

    // Catalog refresh: the device is asked again and the row comes back to "complete".
    const before = Number(await ask('queries Catalog'));
    await page.click(`${row(ids[0])} .c-catalog button`);
    await until('the device to be asked for its catalog again', 10000, async () => Number(await ask('queries Catalog')) > before, 200);
    await until('the catalog to show complete again', 10000, async () =>
      (await page.textContent(`${row(ids[0])} .catalog-text`)) === 'complete' && !(await page.isDisabled(`${row(ids[0])} .c-catalog button`)), 200);
  } else {
    const text = await until('the channel list message', 5000, () => page.textContent(detail).then((t) => /not available/.test(t) && t));
    log(`channels: ${text}`);
  }

  // One device goes silent: it turns offline here without a reload.
  await page.evaluate(() => (window.__sameDocument = true));
  equal(await ask('unplug 1'), 'ok', 'unplugging device 1');
  const t0 = Date.now();
  await page.waitForSelector(`${row(ids[1])}[data-online="false"]`, { timeout: 15000 });
  log(`device offline on the page ${Date.now() - t0} ms after it went silent (keepalive timeout 1 s)`);
  check(await page.evaluate(() => window.__sameDocument === true), 'the page was not reloaded');
  equal(await page.$eval(`${row(ids[1])} .state-text`, (e) => e.textContent), 'Offline', 'state text');
  const grey = await page.$eval(`${row(ids[1])} .dot`, (e) => getComputedStyle(e).backgroundColor);
  const green = await page.$eval(`${row(ids[0])} .dot`, (e) => getComputedStyle(e).backgroundColor);
  check(grey !== green, `offline dot (${grey}) differs from online (${green})`);
  for (const id of [ids[0], ids[2]]) equal(await page.getAttribute(row(id), 'data-online'), 'true', `device ${id} still online`);

  // The online filter hides it.
  await page.selectOption('#device-filter', 'online');
  const shown = await page.$$eval('tr.device', (rs) => rs.filter((r) => !r.hidden).map((r) => r.dataset.deviceId));
  equal(shown.join(), [ids[0], ids[2]].join(), 'devices shown with the online filter');
  await page.selectOption('#device-filter', 'all');
  await page.evaluate(() => document.activeElement && document.activeElement.blur());
  await screenshot(page, 'dashboard-devices.png');

  // Live view, when this server has live sessions.
  const live = await page.evaluate(async () => (await fetch('/api/v1/live')).status);
  if (live !== 200) {
    log(`live sessions: not on this server yet (GET /api/v1/live answered ${live}); skipping the live part`);
    return;
  }
  await liveView(page);
});

async function liveView(page) {
  check(channels.length > 0, 'channel IDs given');
  const ch = channels[0];
  await page.goto(base + '/#/live');
  await page.click('#view-live button.layout[data-layout="4"]');
  const play = `#view-live [data-channel-id="${ch}"] > .ch-play`;
  if (!(await page.$(play))) await page.click(`#view-live .picker-device[data-device-id="${ids[0]}"]`);
  await page.waitForSelector(play, { timeout: 10000 });

  const tile = (i) => `#live-grid .tile[data-slot="${i}"]`;
  const playing = async (i) => {
    const t = await until(`tile ${i} to paint its first frame`, 15000, async () => {
      const s = await page.$eval(tile(i), (el) => ({ state: el.dataset.state, ms: el.dataset.firstFrameMs, msg: el.querySelector('.tile-msg').textContent }));
      check(s.state !== 'ended' && s.state !== 'unsupported', `tile ${i}: ${s.msg}`);
      return s.ms !== undefined && s;
    });
    return Number(t.ms);
  };
  const video = (i) => page.$eval(`${tile(i)} video`, (v) => ({ t: v.currentTime, w: v.videoWidth, h: v.videoHeight }));

  // Cold start: the click sets up a session (INVITE, RTP, first key frame).
  await page.click(play);
  const outcome = await until('tile 0 to start or fail', 20000, () => page.$eval(tile(0), (el) =>
    ['playing', 'ended', 'unsupported'].includes(el.dataset.state) && { state: el.dataset.state, msg: el.querySelector('.tile-msg').textContent }));
  if (outcome.state === 'ended' && /488 Media not simulated/.test(outcome.msg)) {
    // The simulator of this build answers INVITE with 488: nothing to play yet.
    log(`live view: the simulator does not stream media in this build; tile says "${outcome.msg}"`);
    return;
  }
  const cold = await playing(0);
  const v0 = await video(0);
  await until('2 s of playback in tile 0', 12000, async () => (await video(0)).t - v0.t >= 2);
  const v = await video(0);
  equal(`${v.w}x${v.h}`, '640x360', 'picture size in tile 0');

  // Joining: a second tile on the same channel shares the session.
  await page.click(play);
  const joining = await playing(1);
  equal(await page.getAttribute(tile(1), 'data-session-id'), await page.getAttribute(tile(0), 'data-session-id'), 'both tiles on one session');
  equal(await ask(`live_sessions ${ch}`), '1', 'live sessions of the channel');
  equal(await ask(`invites ${ch}`), '1', 'INVITEs the simulated channel got for two tiles');
  log(`click to first frame: cold ${cold} ms, joining ${joining} ms`);
  await page.waitForTimeout(2500); // the stats overlay fills in
  const stats = await page.textContent(`${tile(0)} .tile-stats`);
  check(/640×360/.test(stats) && /H\.264/.test(stats), `stats overlay: ${stats}`);
  await screenshot(page, 'dashboard-live.png');

  // Closing a tile closes its WebSocket (the viewer count drops); with both closed the
  // server ends the session it no longer needs (media.idle_timeout, 2 s in this test).
  await page.click(`${tile(1)} .tile-close`);
  await until('one viewer left', 5000, async () => (await ask(`live_viewers ${ch}`)) === '1', 200);
  await page.click(`${tile(0)} .tile-close`);
  await until('no viewer left', 5000, async () => (await ask(`live_viewers ${ch}`)) === '0', 200);
  await until('the session to end once nobody watches', 15000, async () => (await ask(`live_sessions ${ch}`)) === '0', 250);
  equal(await ask(`byes ${ch}`), '1', 'BYEs the simulated channel got when the session ended');

  // The Sessions view lists a running session; Stop ends it, and its tile says so.
  const ch2 = channels[1];
  await page.click(`#view-live [data-channel-id="${ch2}"] > .ch-play`);
  const slot = await until('a tile for the second channel', 5000, () => page.$eval('#live-grid', (g) => {
    const t = [...g.querySelectorAll('.tile')].find((el) => el.dataset.channelId && el.dataset.state === 'playing');
    return t ? t.dataset.slot : null;
  }));
  // (The HLS check keeps a viewer for 15 s; this session ends by Stop, not by idleness.)
  await mediaWithCookie(page, await page.getAttribute(tile(slot), 'data-session-id'));
  await page.click('#tab-sessions');
  const sessionRow = `#sessions-table tr[data-session-id]`;
  await page.waitForSelector(sessionRow, { timeout: 5000 });
  const cellsText = await page.textContent(sessionRow);
  check(cellsText.includes(ch2) && /640×360/.test(cellsText) && /H\.264/.test(cellsText), `session row: ${cellsText}`);
  if (process.env.VIGIL_SCREENSHOTS) await page.waitForTimeout(2500); // stats fill in
  await screenshot(page, 'dashboard-sessions.png');
  await page.click(`${sessionRow} button.danger`);
  await until('the session row to go', 10000, async () => !(await page.$(sessionRow)));
  equal(await ask(`live_sessions ${ch2}`), '0', 'sessions of the second channel after Stop');
  await page.click('#tab-live');
  const endMsg = await until('the tile to say the stream ended', 10000, () => page.$eval(tile(slot), (el) => el.dataset.state === 'ended' && el.querySelector('.tile-msg').textContent));
  equal(endMsg, 'The live stream ended.', 'tile message after Stop');

  // A camera sending H.265, which Debian's Chromium cannot decode: the tile says so, and
  // its WebSocket is closed, so the session ends.
  const [hevcDevice, hevcChannel] = (await ask('start_h265')).split(' ');
  const hevcPlay = `#view-live [data-channel-id="${hevcChannel}"] > .ch-play`;
  await until('the H.265 camera in the channel list', 15000, async () => {
    if (await page.$(hevcPlay)) return true;
    const head = `#view-live .picker-device[data-device-id="${hevcDevice}"][aria-expanded="false"]`;
    if (await page.$(head)) await page.click(head, { timeout: 1000 }).catch(() => {});
    return false;
  }, 250);
  await page.click(hevcPlay);
  const hevcTile = await until('the H.265 tile to finish starting', 20000, () => page.$eval('#live-grid', (g, id) => {
    const t = [...g.querySelectorAll('.tile')].find((el) => el.dataset.channelId === id && el.dataset.state !== 'starting');
    return t && { state: t.dataset.state, msg: t.querySelector('.tile-msg').textContent, codec: t.dataset.codec || null };
  }, hevcChannel));
  const hevcOk = await page.evaluate(() => MediaSource.isTypeSupported('video/mp4; codecs="hvc1.1.6.L93.B0"'));
  if (hevcOk) {
    log(`H.265: this Chromium decodes it (tile ${hevcTile.state})`);
  } else {
    equal(hevcTile.state, 'unsupported', `H.265 tile state (${hevcTile.msg})`);
    check(/cannot play H\.265 \(hvc1\./.test(hevcTile.msg), `H.265 tile message: ${hevcTile.msg}`);
    log(`H.265 tile: ${hevcTile.msg}`);
    await screenshot(page, 'dashboard-live-h265.png');
    await until('the H.265 session to lose its viewer', 5000, async () => (await ask(`live_viewers ${hevcChannel}`)) === '0', 200);
  }
}

// The session's media through every path a player may take, with the login cookie and
// without the signed ?token= the API's URLs carry: the WebSocket, the HTTP fMP4 in a <video>
// element, the HLS playlist with its init segment and a media segment. Without the cookie
// (a request from node) the same media answers 401.
async function mediaWithCookie(page, sid) {
  const got = await page.evaluate(async (sid) => {
    const out = {};
    out.ws = await new Promise((resolve) => {
      const ws = new WebSocket(`ws://${location.host}/live/${sid}/ws`);
      ws.binaryType = 'arraybuffer';
      const timer = setTimeout(() => { ws.close(); resolve('no message in 5 s'); }, 5000);
      ws.onmessage = (ev) => {
        clearTimeout(timer);
        ws.close();
        resolve(typeof ev.data === 'string' ? 'text message' : 'binary');
      };
      ws.onclose = (ev) => {
        clearTimeout(timer);
        resolve(`closed ${ev.code}`);
      };
    });
    out.video = await new Promise((resolve) => {
      const v = document.createElement('video');
      v.muted = true;
      const done = (r) => {
        clearTimeout(timer);
        v.removeAttribute('src');
        v.load();
        v.remove();
        resolve(r);
      };
      const timer = setTimeout(() => done('no data in 10 s'), 10000);
      v.onloadeddata = () => done(`${v.videoWidth}x${v.videoHeight}`);
      v.onerror = () => done(`error ${v.error && v.error.code}`);
      v.src = `/live/${sid}.mp4`;
      document.body.append(v);
    });
    const playlistUrl = new URL(`/live/${sid}/index.m3u8`, location.href);
    const pl = await fetch(playlistUrl, { cache: 'no-store' });
    out.playlist = pl.status;
    const text = await pl.text();
    const map = (text.match(/#EXT-X-MAP:URI="([^"]+)"/) || [])[1];
    const seg = text.split('\n').find((l) => l && !l.startsWith('#'));
    for (const [k, u] of [['init', map], ['segment', seg]]) {
      if (!u) continue;
      const r = await fetch(new URL(u, playlistUrl), { cache: 'no-store' });
      out[k] = `${r.status} ${(await r.arrayBuffer()).byteLength > 0 ? 'with bytes' : 'empty'}`;
    }
    return out;
  }, sid);
  log(`media with the cookie alone: ${JSON.stringify(got)}`);
  equal(got.ws, 'binary', 'WebSocket /live/{id}/ws without token');
  equal(got.video, '640x360', '<video src=/live/{id}.mp4> without token');
  equal(got.playlist, 200, 'HLS playlist without token');
  equal(got.init, '200 with bytes', 'HLS init segment without token');
  equal(got.segment, '200 with bytes', 'HLS media segment without token');
  for (const path of [`/live/${sid}.mp4`, `/live/${sid}/index.m3u8`]) {
    const r = await fetch(base + path);
    equal(r.status, 401, `${path} without the cookie`);
    await r.body?.cancel();
  }
}
