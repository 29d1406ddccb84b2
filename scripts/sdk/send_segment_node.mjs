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
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// stdout carries only our one JSON line: send the SDK's console.log/info/debug output to stderr.
for (const m of ['log', 'info', 'debug']) console[m] = (...args) => console.error(...args);

const SDK = '@segment/analytics-node';
const { values: a } = parseArgs({
  options: {
    host: { type: 'string' }, 'write-key': { type: 'string' }, 'run-id': { type: 'string' },
    'sdk-dir': { type: 'string' }, timeout: { type: 'string', default: '30' }, verbose: { type: 'boolean', default: false },
  },
});
for (const k of ['host', 'write-key', 'run-id']) if (!a[k]) { console.error(`missing --${k}`); process.exit(2); }

const here = path.dirname(fileURLToPath(import.meta.url));
const sdkDir = a['sdk-dir'] || process.env.PULSEBOARD_TEST_SDK_DIR || path.resolve(here, '../../target/sdk-clients');
const require = createRequire(path.join(sdkDir, 'node_modules', '.resolve-from-here.js'));
const { Analytics } = require(SDK);
const VERSION = require(`${SDK}/package.json`).version;

const sent = [], errors = [];
let reported = false;
function report(rc) {
  if (reported) return;
  reported = true;
  process.stdout.write(JSON.stringify({ sdk: SDK, version: VERSION, sent, errors }) + '\n', () => process.exit(rc));
}
const timeoutS = Number(a.timeout);
setTimeout(() => { errors.push(`timeout: not delivered within ${timeoutS}s`); report(124); }, timeoutS * 1000); // not unref()d: keeps node alive until we report

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
  await client.closeAndFlush({ timeout: timeoutS * 1000 });
} catch (err) {
  errors.push(`closeAndFlush: ${err?.message ?? err}`);
}
await Promise.all(pending);
report(errors.length ? 1 : 0);
