#!/usr/bin/env node
// Send a fixed set of messages through the real @rudderstack/rudder-sdk-node SDK (see package.json).
//
//   node scripts/sdk/send_rudder.mjs --host http://127.0.0.1:PORT --write-key KEY --run-id RUN [--sdk-dir DIR]
//
// The SDK is loaded from <sdk-dir>/node_modules: --sdk-dir, else $PULSEBOARD_TEST_SDK_DIR, else
// <repo>/target/sdk-clients (where scripts/sdk/install.sh puts it). Only dataPlaneUrl and write key
// are configured; everything else is the SDK's default (gzip ON with the body labelled
// application/x-www-form-urlencoded by axios, flushAt 20, flushInterval 10 s, 3 axios retries).
// NB the SDK flushes the very first message on its own at once, so the wire sees 2 batches: [msg 0]
// and, at our flush(), [msgs 1..4].
// Sends 3 `track` "sdk_event" {n: i, run: RUN}, one `identify` {plan: "pro"} and one `page` "Home",
// all with userId "user-RUN" and messageId "RUN-rudder-node-<i>" (i = 0..4), flushes and prints ONE
// JSON line on stdout: {"sdk","version","sent":[{"message_id","type","event_name"}],"errors":[...]}
// "errors" = delivery errors reported by the SDK (per-message callbacks, errorHandler), plus timeout.
// Exit 0 only if "errors" is empty; 1 on delivery errors, 124 on the hard timeout (--timeout, 30 s).
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// stdout carries only our one JSON line: send the SDK's console.log/info/debug output to stderr.
for (const m of ['log', 'info', 'debug']) console[m] = (...args) => console.error(...args);

const SDK = '@rudderstack/rudder-sdk-node';
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
const Analytics = require(SDK);
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
const errText = (err) => (err?.response ? `HTTP ${err.response.status} ${err.response.statusText}` : String(err?.message ?? err));

// errorHandler: without it the SDK's own flush of the first message rejects a promise nobody holds
// and node dies of the unhandled rejection on any HTTP error. It changes nothing on the wire.
const client = new Analytics(a['write-key'], {
  dataPlaneUrl: a.host,
  logLevel: a.verbose ? 'debug' : 'info',
  errorHandler: (err) => errors.push(`errorHandler: ${errText(err)}`),
});
process.on('unhandledRejection', (err) => errors.push(`unhandled rejection: ${errText(err)}`));
const run = a['run-id'], userId = `user-${run}`;
const pending = [];
let n = 0;
function send(method, type, eventName, fields) {
  const messageId = `${run}-rudder-node-${n++}`;
  sent.push({ message_id: messageId, type, event_name: eventName });
  pending.push(new Promise((resolve) => {
    client[method]({ userId, messageId, ...fields }, (err) => {
      if (err) errors.push(`callback ${messageId}: ${errText(err)}`);
      resolve();
    });
  }));
}
for (let i = 0; i < 3; i++) send('track', 'track', 'sdk_event', { event: 'sdk_event', properties: { n: i, run } });
send('identify', 'identify', null, { traits: { plan: 'pro' } });
send('page', 'page', 'Home', { name: 'Home' });

try {
  await client.flush();
} catch (err) {
  errors.push(`flush: ${errText(err)}`);
}
await Promise.all(pending);
report(errors.length ? 1 : 0);
