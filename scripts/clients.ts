// Manages the apps registered for the sign-in flow (SMART apps) (src/signin/cli.ts): `npm run clients -- --help`.
import { loadConfig } from '../src/config.js';
import { runCli } from '../src/signin/cli.js';

const code = await runCli('clients', process.argv.slice(2), loadConfig(), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
}).catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
  return 1;
});
process.exit(code);
