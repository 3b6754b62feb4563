// Ask voxgate one question with the official openai SDK's Realtime client and stream the reply.
//   VOXGATE_URL=https://127.0.0.1:8080/v1 node index.mjs "What are your opening hours?"
// The SDK always connects over wss://, so voxgate needs tls.cert_file/key_file (or a TLS proxy).
import OpenAI from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';

const question = process.argv[2] ?? 'Hello!';
const client = new OpenAI({
  baseURL: process.env.VOXGATE_URL ?? 'https://127.0.0.1:8080/v1',
  // The SDK insists on a key; voxgate checks it only with auth.mode api_keys.
  apiKey: process.env.VOXGATE_API_KEY ?? 'unused',
});
const rt = new OpenAIRealtimeWS({ model: process.env.VOXGATE_MODEL ?? 'gpt-4o-mini' }, client);

rt.on('session.created', (event) => console.error(`session ${event.session.id} (model ${event.session.model})`));
rt.on('response.output_text.delta', (event) => process.stdout.write(event.delta));
rt.on('response.output_text.done', (event) => console.log(`\nfinal: ${event.text}`));
rt.on('response.done', (event) => {
  if (event.response.status !== 'completed') process.exitCode = 1;
  rt.close();
});
rt.on('error', (err) => {
  console.error(`error: ${err.message}`);
  process.exitCode = 1;
  rt.close();
});

rt.socket.on('open', () => {
  rt.send({
    type: 'conversation.item.create',
    item: { type: 'message', role: 'user', content: [{ type: 'input_text', text: question }] },
  });
  rt.send({ type: 'response.create' });
});
