#!/usr/bin/env node
// Send a fixed set of messages through the real @segment/analytics-node SDK (see package.json).
//
//   node scripts/sdk/send_segment_node.mjs --host http://127.0.0.1:PORT --write-key KEY --run-id RUN [--sdk-dir DIR]
//
// The SDK is loaded from <sdk-dir>/node_modules: --sdk-dir, else $PULSEBOARD_TEST_SDK_DIR, else
// <repo>/target/sdk-clients (where scripts/sdk/install.sh puts it). Only host and write key are
// configured; everything else is the SDK's default (no gzip, flushAt 15, flushInterval 10 s,
// maxRetries 10). Sends 3 `track` "sdk_event" {n: i, run: RUN}, one `identify` {plan: "pro"} and one
// `page` "Home", all with userId "user-RUN" and messageId "RUN-segment-node-<i>" (i = 0..4), then
// closeAndFlush(), and prints ONE JSON line on stdout:
//   {"sdk","version","sent":[{"message_id","type","event_name"}],"errors":[...]}
// "errors" = delivery failures reported by the SDK (per-call callbacks and its 'error' event), plus
// timeout. Exit 0 only if "errors" is empty; 1 on delivery errors, 124 on the hard timeout
// (--timeout, 30 s). --verbose logs each HTTP request/response to stderr.
import { startSender } from './sender.mjs';

const { args: a, module, sent, errors, report } = startSender('@segment/analytics-node');
const { Analytics } = module;

const client = new Analytics({ writeKey: a['write-key'], host: a.host });
client.on('error', (e) => errors.push(`error event (${e.code}): ${e.reason?.message ?? e.reason}`));
if (a.verbose) {
  client.on('http_request', (r) => console.error('http_request', r.method, r.url, JSON.stringify(r.headers)));
  client.on('http_response', (r) => console.error('http_response', r.status, r.statusText));
}
const run = a['run-id'], userId = `user-${run}`;
const pending = [];
let n = 0;
function send(method, type, eventName, fields) {
  const messageId = `${run}-segment-node-${n++}`;
  sent.push({ message_id: messageId, type, event_name: eventName });
  pending.push(new Promise((resolve) => {
    client[method]({ userId, messageId, ...fields }, (err) => {
      if (err) errors.push(`callback ${messageId}: ${err?.message ?? err}`);
      resolve();
    });
  }));
}
for (let i = 0; i < 3; i++) send('track', 'track', 'sdk_event', { event: 'sdk_event', properties: { n: i, run } });
send('identify', 'identify', null, { traits: { plan: 'pro' } });
send('page', 'page', 'Home', { name: 'Home' });

try {
  await client.closeAndFlush({ timeout: Number(a.timeout) * 1000 });
} catch (err) {
  errors.push(`closeAndFlush: ${err?.message ?? err}`);
}
await Promise.all(pending);
report(errors.length ? 1 : 0);
