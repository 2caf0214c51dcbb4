// Manages the people who sign in (src/signin/cli.ts): `npm run users -- --help`.
import { loadConfig } from '../src/config.js';
import { runCli } from '../src/signin/cli.js';
import { runCliAndExit } from './run-cli.js';

await runCliAndExit((io) => runCli('users', process.argv.slice(2), loadConfig(), io));
