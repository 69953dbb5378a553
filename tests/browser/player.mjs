// The dashboard's MSE player (web/js/player.js) in Chromium against the real /live WebSocket
// route, fed in real time from the test clips by tests/browser.rs: H.264 plays at 640x360 and
// keeps advancing, H.265 is refused with a clear reason where Chromium cannot decode it, a
// stream that ends says so, an unknown session says so, a player that falls behind jumps to
// the live edge, and closing the player closes its WebSocket (the hub loses its viewer).

import { ask, check, equal, log, run, until } from './lib.mjs';

const base = process.env.VIGIL_URL;

await run('live player (MSE over WebSocket)', async ({ page }) => {
  await page.goto(base + '/');
  // This server has no REST API: the dashboard falls back to polling and says so.
  await page.waitForSelector('#conn[data-mode="polling"]', { timeout: 5000 });
  await page.waitForSelector('#view-devices .notice:not([hidden])', { timeout: 5000 });
  await page.evaluate(async () => {
    const { LivePlayer } = await import('/ui/js/player.js');
    window.players = {};
    window.startPlayer = (id) => {
      const video = document.createElement('video');
      video.muted = true;
      video.width = 320;
      document.body.append(video);
      const st = { t0: performance.now(), video };
      const p = new LivePlayer(video, `ws://${location.host}/live/${id}/ws`, {
        onInfo: (i) => (st.info = i),
        onFirstFrame: () => (st.firstFrameMs = performance.now() - st.t0),
        onUnsupported: (codec) => (st.unsupported = codec || 'unknown'),
        onEnd: (text) => (st.ended = text),
      });
      st.player = p;
      window.players[id] = st;
      p.start();
    };
    window.playerState = (id) => {
      const s = window.players[id];
      const v = s.video;
      return {
        info: s.info || null,
        firstFrameMs: s.firstFrameMs ?? null,
        unsupported: s.unsupported || null,
        ended: s.ended || null,
        currentTime: v.currentTime,
        width: v.videoWidth,
        height: v.videoHeight,
        paused: v.paused,
        lag: s.player.lag(),
        skips: s.player.skips,
      };
    };
  });
  const state = (id) => page.evaluate((id) => window.playerState(id), id);

  // H.264: plays, at the clip's size, and time advances.
  await page.evaluate(() => window.startPlayer('h264'));
  const first = await until('the first H.264 frame', 10000, async () => {
    const s = await state('h264');
    check(!s.unsupported && !s.ended, `H.264 did not play: ${JSON.stringify(s)}`);
    return s.firstFrameMs !== null && s;
  });
  equal(first.info.codec, process.env.VIGIL_H264_CODEC, 'codec string read from the init segment');
  log(`h264: first frame ${first.firstFrameMs.toFixed(0)} ms after connecting (joining a running stream)`);
  const t0 = first.currentTime;
  const s = await until('2 s of H.264 playback', 12000, async () => {
    const s = await state('h264');
    check(!s.ended, `H.264 ended: ${s.ended}`);
    return s.currentTime - t0 >= 2 && s;
  });
  equal(`${s.width}x${s.height}`, '640x360', 'H.264 picture size');
  equal(await ask('viewers h264'), '1', 'viewers of h264 while playing');

  // Behind the live edge (the tab stalled): the player jumps forward.
  await page.evaluate(() => window.players.h264.video.pause());
  await page.waitForTimeout(4000);
  const lagged = await state('h264');
  // It may drift up to 2.5 s behind before it jumps (player.js MAX_LAG_S).
  check(lagged.skips >= 1, `no jump to the live edge during a 4 s pause (lag ${lagged.lag} s)`);
  check(lagged.lag !== null && lagged.lag <= 2.6, `still ${lagged.lag} s behind the live edge after a 4 s pause`);

  // Closing the player closes its WebSocket; the hub sees its viewer go.
  await page.evaluate(() => window.players.h264.player.close());
  await until('h264 to have no viewers', 5000, async () => (await ask('viewers h264')) === '0');

  // H.265: Debian's Chromium has no HEVC decoder; the player must say so, not hang.
  const hevc = process.env.VIGIL_H265_CODEC;
  const canHevc = await page.evaluate((c) => MediaSource.isTypeSupported(`video/mp4; codecs="${c}"`), hevc);
  await page.evaluate(() => window.startPlayer('h265'));
  if (canHevc) {
    const h = await until('the first H.265 frame', 10000, async () => (await state('h265')).firstFrameMs !== null && state('h265'));
    equal(`${h.width}x${h.height}`, '640x360', 'H.265 picture size');
    log('h265: this Chromium decodes HEVC; played it');
  } else {
    const h = await until('H.265 to be refused', 10000, async () => (await state('h265')).unsupported);
    equal(h, hevc, 'codec named in the refusal');
    await until('h265 to have no viewers after the refusal', 5000, async () => (await ask('viewers h265')) === '0');
    log(`h265: refused as unsupported (${hevc})`);
  }

  // A stream that ends says so.
  await page.evaluate(() => window.startPlayer('ending'));
  await until('the ending stream to play', 10000, async () => (await state('ending')).firstFrameMs !== null);
  equal(await ask('end ending'), 'ok', 'ending the stream');
  const ended = await until('the end of the stream to be told', 5000, async () => (await state('ending')).ended);
  equal(ended, 'The live stream ended.', 'message at the end of a stream');

  // An unknown session says so.
  await page.evaluate(() => window.startPlayer('nope'));
  const nope = await until('an unknown session to be told', 5000, async () => (await state('nope')).ended);
  check(/Cannot open the live stream/.test(nope), `unknown session message: ${nope}`);
});
