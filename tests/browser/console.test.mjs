// Drives voxgate's browser console (GET /console) in headless Debian Chromium: the key is
// traded for an ephemeral client secret, a short reply streams token by token with its
// first-token latency shown, Stop cancels a long reply; then Mic: Chromium's fake
// microphone plays a question espeak-ng spoke (made here, looped with long silences), the
// gateway hears it (server VAD, PocketSphinx), answers with the demo model and speaks
// (espeak-ng), the page plays it, and the question's next loop barges in. A screenshot is saved.
//   VOXGATE_URL=http://127.0.0.1:PORT VOXGATE_MUTE_URL=http://127.0.0.1:PORT2 VOXGATE_TEST_KEY=...
//   VOXGATE_OUTPUT_DIR=dir node --test console.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.VOXGATE_URL;
const muteBase = process.env.VOXGATE_MUTE_URL;  // a voxgate with text_to_speech.kind none
const key = process.env.VOXGATE_TEST_KEY;  // from the environment, never argv
const outputDir = process.env.VOXGATE_OUTPUT_DIR;
let browser;
let page;
let scratch;
const problems = [];      // console errors (CSP violations among them) and page exceptions
const socketUrls = [];    // every WebSocket the page opened
const deltaFrames = [];   // response.output_text.delta frames as the browser received them
const sentVoice = [];     // the voice events the page sent (audio payloads replaced by their length)
const receivedVoice = []; // conversation.item.truncated and output_audio_buffer.cleared as received

// The fake microphone's input: a second of silence, the question, eight seconds of
// silence, looped by Chromium. Server VAD hears one turn per loop; the gap is long enough
// for the spoken reply to start and shorter than the reply, so the next loop talks over it.
function questionWav(dir) {
  const spoken = path.join(dir, 'spoken.wav');
  execFileSync('espeak-ng', ['-v', 'en-us', '-w', spoken, 'What time is it in London?']);
  const wav = readFileSync(spoken);
  const dataAt = wav.indexOf('data') + 8;  // espeak-ng writes a plain 44-byte PCM header
  const rate = wav.readUInt32LE(24);
  const silence = (seconds) => Buffer.alloc(2 * Math.round(rate * seconds));
  const samples = Buffer.concat([silence(1), wav.subarray(dataAt), silence(8)]);
  const header = Buffer.from(wav.subarray(0, 44));
  header.writeUInt32LE(36 + samples.length, 4);
  header.writeUInt32LE(samples.length, 40);
  const file = path.join(dir, 'question.wav');
  writeFileSync(file, Buffer.concat([header, samples]));
  return file;
}

before(async () => {
  scratch = mkdtempSync(path.join(os.tmpdir(), 'voxgate-browser-'));
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: [
      '--no-sandbox',  // CI runs as root, where Chromium's sandbox cannot start
      '--use-fake-device-for-media-stream',  // the microphone is the file below
      '--use-file-for-fake-audio-capture=' + questionWav(scratch),
      '--autoplay-policy=no-user-gesture-required',
    ],
  });
  // The microphone is granted to this page's context (as a user's "Allow" would), not by
  // --use-fake-ui-for-media-stream, which would grant it to every context.
  page = await browser.newPage({ viewport: { width: 960, height: 760 }, permissions: ['microphone'] });
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
  page.on('pageerror', (error) => problems.push(String(error)));
  page.on('websocket', (socket) => {
    socketUrls.push(socket.url());
    socket.on('framereceived', (frame) => {
      const event = JSON.parse(frame.payload);
      if (event.type === 'response.output_text.delta') deltaFrames.push(event);
      if (event.type === 'conversation.item.truncated' || event.type === 'output_audio_buffer.cleared') receivedVoice.push(event);
    });
    socket.on('framesent', (frame) => {
      const event = JSON.parse(frame.payload);
      if (event.type === 'input_audio_buffer.append') event.audio = event.audio.length;
      if (event.type !== 'conversation.item.create' && event.type !== 'response.create') sentVoice.push(event);
    });
  });
});

after(async () => {
  await browser?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

const assistantTurn = (n) => page.locator('.turn.assistant').nth(n);

async function connect(model) {
  await page.fill('#key', key);
  await page.fill('#model', model);
  await page.click('#connect');
  await page.waitForSelector('#status[data-state="connected"]', { timeout: 15000 });
}

test('the page loads from the gateway with nothing from elsewhere', async () => {
  const response = await page.goto(base + '/console');
  assert.equal(response.status(), 200);
  assert.match(response.headers()['content-security-policy'], /connect-src 'self' ws: wss:/);
  assert.equal(await page.title(), 'voxgate console');
});

test('a message streams back token by token with its first-token latency', async () => {
  await connect('');
  await page.fill('#message', 'Hello from Chromium');
  await page.press('#message', 'Enter');
  const turn = assistantTurn(0);
  await turn.and(page.locator('[data-status="completed"]')).waitFor({ timeout: 30000 });
  const deltas = Number(await turn.getAttribute('data-deltas'));
  assert.ok(deltas >= 5, `only ${deltas} deltas`);
  // Frame events reach this process over the same DevTools connection, just after the DOM
  // change; give the last ones a moment.
  for (let i = 0; i < 40 && deltaFrames.length < deltas; i++) await page.waitForTimeout(50);
  assert.equal(deltas, deltaFrames.length, 'the page counts every delta frame the socket received');
  const text = await turn.locator('.text').textContent();
  assert.equal(text, deltaFrames.map((e) => e.delta).join(''));
  assert.match(text, /Hello from Chromium/);  // the demo provider quotes the message
  const latency = Number(await turn.locator('.latency').textContent());
  assert.ok(Number.isInteger(latency) && latency >= 0, `latency ${latency}`);
  assert.match(await turn.locator('.meta').textContent(), /^first token \d+ ms · \d+ deltas · completed$/);
});

test('Stop cancels a long reply and no more text arrives', async () => {
  await page.click('#disconnect');
  await page.waitForSelector('#status[data-state="idle"]');
  await connect('slow-model');  // a new secret for a new session (a secret opens one)
  await page.fill('#message', 'Tell me a long story, slowly');
  await page.click('#send');
  const turn = assistantTurn(1);
  await page.waitForFunction(() => Number(document.querySelectorAll('.turn.assistant')[1]?.dataset.deltas) >= 3,
                             null, { timeout: 30000 });
  await page.click('#stop');
  await turn.and(page.locator('[data-status="cancelled"]')).waitFor({ timeout: 10000 });
  const stoppedText = await turn.locator('.text').textContent();
  const framesAtStop = deltaFrames.length;
  // The slow provider sends 4 tokens a second: in 1.5 s a live stream would have grown.
  await page.waitForTimeout(1500);
  assert.equal(await turn.locator('.text').textContent(), stoppedText);
  assert.equal(deltaFrames.length, framesAtStop);
  assert.match(await turn.locator('.meta').textContent(), /first token \d+ ms · \d+ deltas · cancelled$/);
  assert.equal(await page.isEnabled('#send'), true);
  assert.equal(await page.isEnabled('#stop'), false);
});

test('the key never went into a WebSocket URL, and the page logged no error', async () => {
  assert.equal(socketUrls.length, 2);
  for (const url of socketUrls) {
    assert.ok(!url.includes(key), url);
    assert.ok(!url.includes('ek_'), url);
  }
  assert.deepEqual(problems, []);
});

test('the policy refuses a script the page did not ship', async () => {
  const before = problems.length;
  const ran = await page.evaluate(() => new Promise((resolve) => {
    const script = document.createElement('script');
    script.textContent = 'window.injectedScriptRan = true;';
    document.body.appendChild(script);
    setTimeout(() => resolve(window.injectedScriptRan === true), 200);
  }));
  assert.equal(ran, false);
  assert.ok(problems.slice(before).some((text) => /Content Security Policy/.test(text)), problems.join('\n'));
});

const voiceCount = (name) => page.evaluate((n) => Number(document.getElementById('voice').dataset[n]), name);

async function waitForVoice(name, atLeast, timeout) {
  await page.waitForFunction(([n, min]) => Number(document.getElementById('voice').dataset[n]) >= min,
                             [name, atLeast], { timeout });
}

test('Mic turns the session to voice and streams the microphone as PCM16 24 kHz', async () => {
  await page.click('#disconnect');
  await page.waitForSelector('#status[data-state="idle"]');
  await connect('');
  assert.equal(await page.getAttribute('#voice', 'data-state'), 'off');
  await page.click('#mic');
  await page.waitForSelector('#mic[aria-pressed="true"]', { timeout: 15000 });
  assert.equal(await page.getAttribute('#voice', 'data-state'), 'listening');
  const update = sentVoice.find((e) => e.type === 'session.update');
  assert.deepEqual(update.session.output_modalities, ['audio']);
  assert.deepEqual(update.session.audio.input.format, { type: 'audio/pcm', rate: 24000 });
  assert.deepEqual(update.session.audio.input.turn_detection, { type: 'server_vad' });
  await waitForVoice('appends', 25, 15000);  // a second of audio
  // 40 ms at 24 kHz is 960 samples, 1920 bytes, 2560 characters of base64.
  const appends = sentVoice.filter((e) => e.type === 'input_audio_buffer.append');
  assert.ok(appends.length >= 25);
  for (const append of appends) assert.equal(append.audio, 2560);
});

test('the question is heard, transcribed, answered in words and played', async () => {
  await waitForVoice('speechStarted', 1, 30000);
  await waitForVoice('speechStopped', 1, 30000);
  const utterance = page.locator('.turn.user[data-transcript="completed"]').first();
  await utterance.waitFor({ timeout: 60000 });
  const heard = (await utterance.textContent()).trim();
  assert.ok(heard.length > 0 && heard !== '…', `transcript "${heard}"`);  // PocketSphinx recognised words
  // The demo model's reply, spoken: its transcript streams into an assistant turn...
  // The reply after what was said (on a slow machine the first may be cut before it spoke).
  const reply = page.locator('.turn.user[data-transcript] + .turn.assistant').filter({ hasText: 'demo provider' }).first();
  await reply.waitFor({ timeout: 60000 });
  assert.match(await reply.locator('.meta').textContent(), /^first token \d+ ms after you stopped · \d+ deltas · /);
  // ...and its audio arrives and plays: the played time grows past half a second as the
  // AudioContext's clock runs through the scheduled pieces.
  await waitForVoice('audioDeltas', 1, 30000);
  await waitForVoice('playedMs', 500, 30000);
  assert.ok(await voiceCount('receivedMs') >= await voiceCount('playedMs'));
});

test('speaking over the reply stops its playback and cuts the item to what was heard', async () => {
  // The question's next loop comes about 11 s after the first, while the reply still plays.
  await waitForVoice('bargeIns', 1, 90000);
  const cut = page.locator('.turn.assistant[data-heard-ms]').first();
  const heardMs = Number(await cut.getAttribute('data-heard-ms'));
  const itemId = await cut.getAttribute('data-item-id');
  assert.ok(heardMs > 0, `heard ${heardMs} ms`);
  const truncate = sentVoice.find((e) => e.type === 'conversation.item.truncate');
  assert.deepEqual(truncate, { type: 'conversation.item.truncate', item_id: itemId, content_index: 0, audio_end_ms: heardMs });
  await page.waitForSelector('.turn.assistant[data-truncated-ms]', { timeout: 15000 });
  assert.equal(Number(await cut.getAttribute('data-truncated-ms')), heardMs);
  assert.match(await cut.locator('.meta').textContent(), new RegExp('interrupted: kept the ' + heardMs + ' ms you heard$'));
  // The reply was still playing when the user spoke: less was heard than had arrived.
  const arrivedMs = Number(await cut.getAttribute('data-audio-ms'));
  assert.ok(heardMs < arrivedMs, `heard ${heardMs} of ${arrivedMs} ms`);
  // The page asks for the cut item: the heard words stay, the rest is struck through.
  assert.ok(sentVoice.some((e) => e.type === 'conversation.item.retrieve' && e.item_id === itemId));
  const unheard = cut.locator('.text .unheard');
  await unheard.waitFor({ timeout: 15000 });
  const whole = await cut.locator('.text').textContent();
  const struck = await unheard.textContent();
  assert.ok(struck.length > 0 && whole.endsWith(struck) && whole.length > struck.length, `${whole} / ${struck}`);
  assert.match(whole, /demo provider/);
});

test('Stop silences a spoken reply the same way', async () => {
  // The interrupting question is answered in turn; Stop while that answer plays.
  await page.waitForSelector('#voice[data-state="speaking"]', { timeout: 90000 });
  await page.click('#stop');
  await waitForVoice('stops', 1, 5000);
  const truncates = sentVoice.filter((e) => e.type === 'conversation.item.truncate');
  await page.waitForFunction((n) => document.querySelectorAll('.turn.assistant[data-truncated-ms]').length >= n,
                             truncates.length, { timeout: 15000 });
  const last = truncates[truncates.length - 1];
  assert.ok(receivedVoice.some((e) => e.type === 'conversation.item.truncated' && e.item_id === last.item_id &&
                                      e.audio_end_ms === last.audio_end_ms), JSON.stringify(receivedVoice));
  assert.notEqual(await page.getAttribute('#voice', 'data-state'), 'speaking');
});

test('pressing Mic again stops the capture and turns the session back to text', async () => {
  await page.click('#mic');
  await page.waitForSelector('#mic[aria-pressed="false"]');
  const sentAtStop = await voiceCount('appends');
  const updates = sentVoice.filter((e) => e.type === 'session.update');
  assert.deepEqual(updates[updates.length - 1].session.output_modalities, ['text']);
  await page.waitForTimeout(1000);  // a live capture would have sent 25 more chunks by now
  assert.equal(await voiceCount('appends'), sentAtStop);
  assert.equal(sentVoice.filter((e) => e.type === 'input_audio_buffer.append').length, sentAtStop);
  assert.deepEqual(problems.filter((text) => !/Content Security Policy/.test(text)), []);
});

test('a denied microphone is said so, and the mic stays off', async () => {
  const context = await browser.newContext();
  try {
    const denied = await context.newPage();
    // What a user's "Block" sets (headless Chromium would also deny the prompt unasked).
    const cdp = await context.newCDPSession(denied);
    await cdp.send('Browser.setPermission', { permission: { name: 'microphone' }, setting: 'denied', origin: base });
    await denied.goto(base + '/console');
    await denied.fill('#key', key);
    await denied.click('#connect');
    await denied.waitForSelector('#status[data-state="connected"]', { timeout: 15000 });
    await denied.click('#mic');
    await denied.locator('.turn.error').filter({ hasText: 'microphone permission denied' }).waitFor({ timeout: 15000 });
    assert.equal(await denied.getAttribute('#mic', 'aria-pressed'), 'false');
    assert.equal(await denied.getAttribute('#voice', 'data-state'), 'off');
    assert.equal(await denied.isEnabled('#mic'), true);
  } finally {
    await context.close();
  }
});

test('a gateway that cannot speak refuses voice with its error, shown on the page', async () => {
  const mute = await browser.newPage({ permissions: ['microphone'] });
  try {
    await mute.goto(muteBase + '/console');
    await mute.click('#connect');  // auth.mode none: no key
    await mute.waitForSelector('#status[data-state="connected"]', { timeout: 15000 });
    await mute.click('#mic');
    await mute.locator('.turn.error').filter({ hasText: /^unsupported_modality: / }).waitFor({ timeout: 15000 });
    await mute.waitForSelector('#mic[aria-pressed="false"]:not([disabled])');
    assert.equal(await mute.getAttribute('#voice', 'data-state'), 'off');
  } finally {
    await mute.close();
  }
});

test('a screenshot of the console', async () => {
  mkdirSync(outputDir, { recursive: true });
  await page.screenshot({ path: path.join(outputDir, 'console.png') });
});
