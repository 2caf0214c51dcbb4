// Loads a newer CDC code-set release into a running server, without redeploying or restarting it.
//   npm run codesets -- import <dir> [--url http://host:8080] [--token <jwt>] [--dry-run]
//   npm run codesets -- diff <dir>            (same as import --dry-run)
// <dir> holds the files the CDC publishes (any subset): cvx.xml, vac2vg.xml, mvx.xml,
// NDC_Unit_use.txt, NDC_Unit_sale.txt, NDC_Linker.txt. Prints the codes added, changed and retired,
// then PUTs the changed CodeSystem / ConceptMap / ValueSet resources; the server's rules use the new
// codes from the next request on.
// --url defaults to PUBLIC_BASE_URL (or http://localhost:PORT); the token to --token, $TOKEN, or one
// minted from AUTH_JWT_SECRET / the DATA_DIR secret (like `npm run token`).
import jwt from 'jsonwebtoken';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadSigningSecret } from '../src/auth/secret.js';
import { loadConfig } from '../src/config.js';
import { importCodeSets } from '../src/terminology/import.js';

const USAGE = 'usage: npm run codesets -- import <dir> [--url <server>] [--token <jwt>] [--dry-run]\n       npm run codesets -- diff <dir>';

function fail(message: string): never {
  process.stderr.write(`${message}\n`);
  process.exit(1);
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    url: { type: 'string' },
    token: { type: 'string' },
    'dry-run': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
const [command, dirArg] = positionals;
if ((command !== 'import' && command !== 'diff') || !dirArg) fail(USAGE);
const dir = path.resolve(dirArg);
if (!existsSync(dir) || !statSync(dir).isDirectory()) fail(`${dir} is not a directory`);

const config = loadConfig();
const server = (values.url ?? config.publicBaseUrl).replace(/\/+$/, '');
const fhirBase = server.endsWith('/fhir') ? server : `${server}/fhir`;

function mintToken(): string {
  const secret = loadSigningSecret(config, { create: false });
  if (!secret) {
    fail('No token: pass --token (or set TOKEN), or set AUTH_JWT_SECRET / DATA_DIR so a token can be minted from the server secret.');
  }
  return jwt.sign({ scope: 'system/CodeSystem.cruds system/ConceptMap.cruds system/ValueSet.cruds' }, secret.secret, {
    algorithm: 'HS256',
    subject: 'codesets-import',
    expiresIn: 600,
    audience: fhirBase,
  });
}

const token = values.token ?? process.env.TOKEN ?? mintToken();
try {
  const { report } = await importCodeSets({ dir, fhirBase, token, dryRun: command === 'diff' || values['dry-run'] });
  process.stdout.write(`${report}\n`);
} catch (err) {
  fail(`Import failed: ${err instanceof Error ? err.message : String(err)}`);
}
