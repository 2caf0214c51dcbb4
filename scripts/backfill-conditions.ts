// npm run backfill:conditions [-- --status] (src/hl7v2/cli.ts): the one-time backfill of the
// Conditions older records lack, made from their doses' HL7 v2 OBX extensions.
import { loadConfig } from '../src/config.js';
import { runBackfillCli } from '../src/hl7v2/cli.js';
import { runCliAndExit } from './run-cli.js';

await runCliAndExit((io) => runBackfillCli(process.argv.slice(2), loadConfig(), io));
