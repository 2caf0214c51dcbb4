// npm run health-cards -- rotate-key | revoke --patient ID [--before INSTANT]  (src/health-cards/cli.ts)
// rotate-key adds a new SMART Health Card signing key to DATA_DIR/health-cards-keys.json (the
// running server signs with it from the next card on; older keys stay in /.well-known/jwks.json).
// revoke puts the patient's rid in every key's Card Revocation List (/.well-known/crl/{kid}.json).
import { loadConfig } from '../src/config.js';
import { runHealthCardsCli } from '../src/health-cards/cli.js';
import { runCliAndExit } from './run-cli.js';

await runCliAndExit((io) => runHealthCardsCli(process.argv.slice(2), loadConfig(), io));
