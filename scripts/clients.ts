// Manages the apps registered for the sign-in flow (SMART apps) (src/signin/cli.ts): `npm run clients -- --help`.
import { loadConfig } from '../src/config.js';
import { runCli } from '../src/signin/cli.js';
import { runCliAndExit } from './run-cli.js';

await runCliAndExit((io) => runCli('clients', process.argv.slice(2), loadConfig(), io));
