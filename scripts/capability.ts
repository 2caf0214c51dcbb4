// Regenerates capability-statement.json from the code (see src/fhir/capability.ts).
import { readFileSync, writeFileSync } from 'node:fs';
import { buildCapabilityStatement } from '../src/app/capability.js';
import { loadDefinitions } from '../src/fhir/definitions.js';

loadDefinitions();
const version = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const statement = buildCapabilityStatement(version);
writeFileSync(new URL('../capability-statement.json', import.meta.url), `${JSON.stringify(statement, null, 2)}\n`);
process.stdout.write('capability-statement.json written\n');
