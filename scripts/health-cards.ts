// npm run health-cards -- rotate-key [--data-dir DIR]
// Adds a new SMART Health Card signing key to DATA_DIR/health-cards-keys.json. New cards are signed
// with it at once (the running server re-reads the file); older keys stay in /.well-known/jwks.json
// so cards already issued keep verifying.
import path from 'node:path';
import { rotateIssuerKey } from '../src/health-cards/issuer-keys.js';

const args = process.argv.slice(2);
const flag = args.indexOf('--data-dir');
const dataDir = path.resolve(flag >= 0 ? (args[flag + 1] ?? '') : (process.env.DATA_DIR ?? './data'));
if (args[0] !== 'rotate-key') {
  process.stderr.write('usage: npm run health-cards -- rotate-key [--data-dir DIR]\n');
  process.exit(2);
}
rotateIssuerKey(dataDir).then(
  (kid) => process.stdout.write(`new health card signing key ${kid} in ${dataDir}; older keys stay published\n`),
  (err: unknown) => {
    process.stderr.write(`${String(err)}\n`);
    process.exit(1);
  }
);
