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
import { startSender } from './sender.mjs';

const { args: a, module, sent, errors, report } = startSender('@rudderstack/rudder-sdk-node');
const Analytics = module;
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
