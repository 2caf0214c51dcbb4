// Mints a development access token for this server's HS256 secret.
//   npm run token -- --scope "system/*.cruds" [--organization Organization/1] [--patient 123] [--sub me] [--hours 8]
import jwt from 'jsonwebtoken';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.js';
import { loadSigningSecret } from '../src/auth/secret.js';

const { values } = parseArgs({
  options: {
    scope: { type: 'string', default: 'system/*.cruds' },
    organization: { type: 'string' },
    patient: { type: 'string' },
    sub: { type: 'string', default: 'dev-user' },
    hours: { type: 'string', default: '8' },
  },
});
const config = loadConfig();
const secret = loadSigningSecret(config, { create: true });
if (!secret) throw new Error('No signing secret available');
const claims: Record<string, string> = { scope: values.scope as string };
if (values.organization) claims.organization = values.organization;
if (values.patient) claims.patient = values.patient;
const token = jwt.sign(claims, secret.secret, {
  algorithm: 'HS256',
  subject: values.sub,
  expiresIn: Math.round(Number(values.hours) * 3600),
  audience: `${config.publicBaseUrl}/fhir`,
});
process.stdout.write(`${token}\n`);
