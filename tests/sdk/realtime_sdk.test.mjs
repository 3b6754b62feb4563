// The official openai SDK's Realtime WebSocket client (OpenAIRealtimeWS, GA events)
// against voxgate's TLS listener. Run by run.sh, which starts voxgate with two demo
// providers (a fast one for "*", a slow one for "slow-model") and trusts its test CA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

const baseURL = process.env.VOXGATE_URL;
assert.ok(baseURL, 'VOXGATE_URL must be set (run through run.sh)');
// voxgate needs no OpenAI key; the SDK insists on one.
const client = new OpenAI({ apiKey: 'sk-not-used-by-voxgate', baseURL });

function connect(model) {
  const rt = new OpenAIRealtimeWS({ model }, client);
  const events = [];
  const waiters = [];
  rt.on('event', (event) => {
    events.push(event);
    for (const waiter of [...waiters]) {
      if (waiter.match(event)) {
        waiters.splice(waiters.indexOf(waiter), 1);
        waiter.resolve(event);
      }
    }
  });
  rt.on('error', (err) => events.push({ type: 'sdk.error', err }));
  const next = (type, timeoutMs = 10000) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for ${type}`)), timeoutMs);
      waiters.push({ match: (e) => e.type === type, resolve: (e) => { clearTimeout(timer); resolve(e); } });
    });
  return { rt, events, next };
}

function userMessage(text) {
  return { type: 'conversation.item.create', item: { type: 'message', role: 'user', content: [{ type: 'input_text', text }] } };
}

async function turn(session, text) {
  const done = session.next('response.done');
  const before = session.events.length;
  session.rt.send(userMessage(text));
  session.rt.send({ type: 'response.create' });
  const response = (await done).response;
  const turnEvents = session.events.slice(before);
  const deltas = turnEvents.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta);
  const textDone = turnEvents.find((e) => e.type === 'response.output_text.done');
  return { response, deltas, textDone, turnEvents };
}

test('two-turn text conversation streams the reply through the SDK', async () => {
  const session = connect('gpt-4o-mini');
  const created = await session.next('session.created');
  assert.match(created.session.id, /^sess_[0-9a-f]{32}$/);
  assert.equal(created.session.model, 'gpt-4o-mini');

  const first = await turn(session, 'Hello from the official SDK');
  assert.equal(first.response.status, 'completed');
  assert.ok(first.deltas.length > 5, 'the reply arrives as many deltas');
  assert.equal(first.deltas.join(''), first.textDone.text, 'deltas add up to the final text');
  assert.match(first.textDone.text, /You said: "Hello from the official SDK"/);
  assert.ok(first.response.usage.output_tokens > 0);
  const order = first.turnEvents.map((e) => e.type).filter((t) => t !== 'response.output_text.delta');
  assert.deepEqual(order, [
    'conversation.item.added', 'conversation.item.done',
    'response.created', 'response.output_item.added', 'conversation.item.added', 'response.content_part.added',
    'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
    'conversation.item.done', 'response.done',
  ]);

  const second = await turn(session, 'And a second turn');
  assert.equal(second.response.status, 'completed');
  assert.match(second.deltas.join(''), /You said: "And a second turn"/);
  assert.notEqual(second.response.id, first.response.id);
  session.rt.close();
});

test('response.cancel stops a streaming response', async () => {
  const session = connect('slow-model');
  await session.next('session.created');
  const firstDelta = session.next('response.output_text.delta');
  const done = session.next('response.done');
  session.rt.send(userMessage('Please talk slowly'));
  session.rt.send({ type: 'response.create' });
  await firstDelta;
  session.rt.send({ type: 'response.cancel' });
  const response = (await done).response;
  assert.equal(response.status, 'cancelled');
  const deltas = session.events.filter((e) => e.type === 'response.output_text.delta');
  assert.ok(deltas.length >= 1 && deltas.length < 20, `cancelled early (got ${deltas.length} deltas)`);
  // The session stays usable after a cancel.
  const error = session.next('error');
  session.rt.send({ type: 'response.cancel', event_id: 'evt_nothing_to_cancel' });
  const err = await error;
  assert.equal(err.error.event_id, 'evt_nothing_to_cancel');
  session.rt.close();
});
