// Drives voxgate's browser console (GET /console) in headless Debian Chromium: the key is
// traded for an ephemeral client secret, a short reply streams token by token with its
// first-token latency shown, Stop cancels a long reply, and a screenshot is saved.
//   VOXGATE_URL=http://127.0.0.1:PORT VOXGATE_TEST_KEY=... VOXGATE_OUTPUT_DIR=dir node --test console.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { chromium } from 'playwright-core';

const base = process.env.VOXGATE_URL;
const key = process.env.VOXGATE_TEST_KEY;  // from the environment, never argv
const outputDir = process.env.VOXGATE_OUTPUT_DIR;
let browser;
let page;
const problems = [];      // console errors (CSP violations among them) and page exceptions
const socketUrls = [];    // every WebSocket the page opened
const deltaFrames = [];   // response.output_text.delta frames as the browser received them

before(async () => {
  browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox'],  // CI runs as root, where Chromium's sandbox cannot start
  });
  page = await browser.newPage({ viewport: { width: 960, height: 760 } });
  page.on('console', (message) => { if (message.type() === 'error') problems.push(message.text()); });
  page.on('pageerror', (error) => problems.push(String(error)));
  page.on('websocket', (socket) => {
    socketUrls.push(socket.url());
    socket.on('framereceived', (frame) => {
      const event = JSON.parse(frame.payload);
      if (event.type === 'response.output_text.delta') deltaFrames.push(event);
    });
  });
});

after(async () => { await browser?.close(); });

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

test('a screenshot of the console', async () => {
  mkdirSync(outputDir, { recursive: true });
  await page.screenshot({ path: path.join(outputDir, 'console.png') });
});
