// What the Node senders share: arguments, loading the SDK from the installed node_modules, the
// hard timeout, and the one JSON line of the report. See send_rudder.mjs, send_segment_node.mjs.
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/// Parses the common arguments and loads `sdk` from <sdk-dir>/node_modules (--sdk-dir, else
/// $PULSEBOARD_TEST_SDK_DIR, else <repo>/target/sdk-clients). Returns the arguments, the SDK's
/// module and version, the `sent` and `errors` lists, and `report(rc)`, which prints the JSON
/// line and exits; a timer reports 124 after --timeout seconds (30).
export function startSender(sdk) {
  // stdout carries only our one JSON line: send the SDK's console.log/info/debug output to stderr.
  for (const m of ['log', 'info', 'debug']) console[m] = (...args) => console.error(...args);
  const { values: args } = parseArgs({
    options: {
      host: { type: 'string' }, 'write-key': { type: 'string' }, 'run-id': { type: 'string' },
      'sdk-dir': { type: 'string' }, timeout: { type: 'string', default: '30' }, verbose: { type: 'boolean', default: false },
    },
  });
  for (const k of ['host', 'write-key', 'run-id']) if (!args[k]) { console.error(`missing --${k}`); process.exit(2); }

  const here = path.dirname(fileURLToPath(import.meta.url));
  const sdkDir = args['sdk-dir'] || process.env.PULSEBOARD_TEST_SDK_DIR || path.resolve(here, '../../target/sdk-clients');
  const require = createRequire(path.join(sdkDir, 'node_modules', '.resolve-from-here.js'));
  const module = require(sdk);
  const version = require(`${sdk}/package.json`).version;

  const sent = [], errors = [];
  let reported = false;
  function report(rc) {
    if (reported) return;
    reported = true;
    process.stdout.write(JSON.stringify({ sdk, version, sent, errors }) + '\n', () => process.exit(rc));
  }
  const timeoutS = Number(args.timeout);
  setTimeout(() => { errors.push(`timeout: not delivered within ${timeoutS}s`); report(124); }, timeoutS * 1000); // not unref()d: keeps node alive until we report
  return { args, module, sent, errors, report };
}
