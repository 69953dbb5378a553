// The PTZ panel of a live tile (web/js/ptz.js) against a platform with simulated cameras
// (started by tests/browser.rs), which record what each channel's PTZ does (`@@ ptz <id>`):
// holding "left" turns the camera left until the button is released, which stops it; leaving
// the button, keys (arrows on the pad, Space on zoom and focus), the window losing focus and
// the tile closing stop it too; the speed slider sets the speed; a preset stored and called
// brings the camera back; a refusing camera's error shows in the tile; a fixed camera
// (ptz_type 3) has no panel; a 401 goes to the login view.

import { ask, check, equal, log, logIn, run, screenshot, until } from './lib.mjs';

const base = process.env.VIGIL_URL;
const ids = process.env.VIGIL_DEVICES.split(',');
const [ch, fixed] = process.env.VIGIL_CHANNELS.split(',');
const refusing = process.env.VIGIL_REFUSING_CHANNEL;

const tile = (c) => `#live-grid .tile[data-channel-id="${c}"]`;
const ptz = async (c) => JSON.parse(await ask(`ptz ${c}`));
const still = async (what, c, commands) => until(what, 5000, async () => {
  const s = await ptz(c);
  return s.commands === commands && s.still && s;
});

await run('PTZ panel', async ({ page }) => {
  await page.goto(base + '/#/live');
  await logIn(page);
  await page.click('#view-live button.layout[data-layout="4"]');

  async function play(device, c) {
    const play = `#view-live [data-channel-id="${c}"] > .ch-play`;
    await until(`channel ${c} in the picker`, 15000, async () => {
      if (await page.$(play)) return true;
      const head = `#view-live .picker-device[data-device-id="${device}"][aria-expanded="false"]`;
      if (await page.$(head)) await page.click(head, { timeout: 1000 }).catch(() => {});
      return false;
    }, 250);
    await page.click(play);
    await page.waitForSelector(tile(c), { timeout: 5000 });
  }

  // A fixed camera (ptz_type 3) gets no PTZ button; a dome (1) does.
  await play(ids[0], fixed);
  await play(ids[0], ch);
  check(!(await page.isVisible(`${tile(fixed)} .tile-ptz`)), 'no PTZ button on a fixed camera');
  await page.click(`${tile(ch)} .tile-ptz`);
  const panel = `${tile(ch)} .ptz`;
  await page.waitForSelector(panel, { state: 'visible', timeout: 2000 });
  equal(await page.getAttribute(`${tile(ch)} .tile-ptz`, 'aria-expanded'), 'true', 'PTZ toggle expanded');
  const button = (action) => `${panel} [data-ptz="${action}"]`;
  const msg = () => page.$eval(`${panel} .ptz-msg`, (e) => (e.hidden ? '' : e.textContent));
  equal(await page.inputValue(`${panel} .ptz-speed-input`), '128', 'default speed');

  // Hold "left": the camera pans left at speed 128 while held; release stops it, and it
  // has turned by about the time held.
  await page.hover(button('left'));
  await page.mouse.down();
  const t0 = Date.now();
  const moving = await until('the camera to pan left', 5000, async () => {
    const s = await ptz(ch);
    return s.commands === 1 && s;
  });
  equal(moving.motion.pan, -128, 'pan speed while "left" is held');
  check(await page.$eval(button('left'), (b) => b.classList.contains('held')), 'held button shown pressed');
  await page.waitForTimeout(800);
  equal((await ptz(ch)).commands, 1, 'no stop while held');
  await page.mouse.up();
  const held = Date.now() - t0;
  const stopped = await still('the camera to stop on release', ch, 2);
  check(stopped.position.pan < -128 * 400 && stopped.position.pan > -128 * (held + 500),
    `pan after holding "left" ${held} ms at 128: ${stopped.position.pan}`);
  equal(stopped.last, 'A50F0100000000B5', 'stop command on release');
  log(`left held ${held} ms: pan ${stopped.position.pan}`);

  // Leaving the button ends the press as a release does.
  await page.hover(button('up'));
  await page.mouse.down();
  await until('the camera to tilt up', 5000, async () => (await ptz(ch)).motion.tilt === 128);
  await page.mouse.move(2, 2);
  await still('the camera to stop when the pointer leaves', ch, 4);
  await page.mouse.up();

  // The speed slider; arrow keys on the pad, two at once for a diagonal; key up stops.
  await page.fill(`${panel} .ptz-speed-input`, '64');
  equal(await page.textContent(`${panel} .ptz-speed-value`), '64', 'speed shown');
  await page.focus(button('right'));
  await page.keyboard.down('ArrowRight');
  let s = await until('the camera to pan right at 64', 5000, async () => {
    const s = await ptz(ch);
    return s.commands === 5 && s;
  });
  equal(s.motion.pan, 64, 'pan speed from the slider');
  await page.keyboard.down('ArrowDown');
  s = await until('the camera to go down and right', 5000, async () => {
    const s = await ptz(ch);
    return s.commands === 6 && s;
  });
  equal(`${s.motion.pan} ${s.motion.tilt}`, '64 -64', 'pan and tilt with two arrows held');
  await page.keyboard.up('ArrowDown');
  await page.keyboard.up('ArrowRight');
  await still('the camera to stop on key up', ch, 8);

  // Zoom (stops with "stop") and focus (stops with "lens_stop"), with Space.
  await page.focus(button('zoom_in'));
  await page.keyboard.down(' ');
  s = await until('the camera to zoom in', 5000, async () => {
    const s = await ptz(ch);
    return s.motion.zoom > 0 && s;
  });
  equal(s.motion.zoom, 4, 'zoom speed: the high 4 bits of 64');
  await page.keyboard.up(' ');
  await still('the zoom to stop', ch, 10);
  await page.hover(button('focus_far'));
  await page.mouse.down();
  await until('the camera to focus far', 5000, async () => (await ptz(ch)).motion.focus === 64);
  await page.mouse.up();
  s = await still('the focus to stop', ch, 12);
  equal(s.last, 'A50F0140000000F5', 'lens_stop after focus');
  await page.fill(`${panel} .ptz-speed-input`, '128');

  // Losing the window's focus stops a held direction.
  await page.focus(button('left'));
  await page.keyboard.down('ArrowLeft');
  await until('the camera to pan left again', 5000, async () => (await ptz(ch)).motion.pan === -128);
  await page.evaluate(() => window.dispatchEvent(new Event('blur')));
  await still('the camera to stop when the window loses focus', ch, 14);
  await page.keyboard.up('ArrowLeft');
  equal((await ptz(ch)).commands, 14, 'no command for a key released after the stop');

  // Presets: store where the camera is, move away, go back.
  const home = (await ptz(ch)).position;
  await page.fill(`${panel} .ptz-preset-no`, '7');
  await page.click(`${panel} [data-preset="set"]`);
  s = await until('preset 7 stored', 5000, async () => {
    const s = await ptz(ch);
    return s.presets['7'] && s;
  });
  equal(JSON.stringify(s.presets['7']), JSON.stringify(home), 'preset 7 is where the camera was');
  await until('the panel to confirm', 3000, async () => (await msg()) === 'Preset 7 stored.');
  await page.hover(button('right'));
  await page.mouse.down();
  await page.waitForTimeout(400);
  await page.mouse.up();
  s = await still('the camera to stop right of preset 7', ch, 17);
  check(s.position.pan > home.pan, `pan moved right of the preset: ${s.position.pan} vs ${home.pan}`);
  await page.click(`${panel} [data-preset="goto"]`);
  s = await until('the camera back at preset 7', 5000, async () => {
    const s = await ptz(ch);
    return s.commands === 18 && s;
  });
  equal(JSON.stringify(s.position), JSON.stringify(home), 'position after going to preset 7');
  await page.click(`${panel} [data-preset="delete"]`);
  await until('preset 7 deleted', 5000, async () => !(await ptz(ch)).presets['7']);
  await page.fill(`${panel} .ptz-preset-no`, '300');
  await page.click(`${panel} [data-preset="goto"]`);
  equal(await msg(), 'Preset: a number from 1 to 255.', 'preset out of range');
  equal((await ptz(ch)).commands, 19, 'nothing sent for a preset out of range');
  await screenshot(page, 'dashboard-ptz.png');

  // Closing the tile while a direction is held stops the camera.
  await page.focus(button('down'));
  await page.keyboard.down('ArrowDown');
  await until('the camera to tilt down', 5000, async () => (await ptz(ch)).motion.tilt === -128);
  await page.$eval(`${tile(ch)} .tile-close`, (b) => b.click()); // a click that leaves focus be
  await still('the camera to stop when its tile closes', ch, 21);
  await page.keyboard.up('ArrowDown');
  check(!(await page.$(tile(ch))), 'tile closed');

  // A camera that refuses: the API's 502 message shows in its tile.
  await play(ids[1], refusing);
  await page.click(`${tile(refusing)} .tile-ptz`);
  const rpanel = `${tile(refusing)} .ptz`;
  await page.hover(`${rpanel} [data-ptz="left"]`);
  await page.mouse.down();
  await page.mouse.up();
  const refused = await until('the refusal in the tile', 5000, async () => {
    const t = await page.$eval(`${rpanel} .ptz-msg.error`, (e) => !e.hidden && e.textContent).catch(() => null);
    return t;
  });
  check(/refused/.test(refused) && /488/.test(refused), `error shown: ${refused}`);
  const r = await until('the camera to refuse left and stop', 5000, async () => {
    const r = await ptz(refusing);
    return r.refused >= 2 && r;
  });
  equal(r.commands, 0, 'commands a refusing camera obeyed');
  log(`refusal shown: ${refused}`);

  // A 401 on a PTZ command takes the dashboard to the login view.
  await play(ids[0], ch);
  await page.click(`${tile(ch)} .tile-ptz`);
  await page.route('**/ptz', (route) => route.fulfill({
    status: 401, contentType: 'application/json', body: '{"error":{"code":"unauthorized","message":"log in"}}',
  }));
  await page.click(`${panel} [data-ptz="stop"]`);
  await page.waitForSelector('#view-login', { state: 'visible', timeout: 5000 });
  equal(await page.textContent('#login-info'), 'Your session has ended. Log in again.', 'login view after a PTZ 401');
  check(!(await page.$(tile(ch))), 'tiles closed at the login view');
});
