// npm run health-cards -- rotate-key | revoke --patient ID [--before INSTANT]  (src/health-cards/cli.ts)
// rotate-key adds a new SMART Health Card signing key to DATA_DIR/health-cards-keys.json (the
// running server signs with it from the next card on; older keys stay in /.well-known/jwks.json).
// revoke puts the patient's rid in every key's Card Revocation List (/.well-known/crl/{kid}.json).
import { loadConfig } from '../src/config.js';
import { runHealthCardsCli } from '../src/health-cards/cli.js';

const code = await runHealthCardsCli(process.argv.slice(2), loadConfig(), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
});
process.exit(code);
