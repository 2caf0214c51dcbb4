// Mints a development access token for this server's HS256 secret (AUTH_JWT_SECRET, or the
// DATA_DIR secret the server creates when no JWKS issuer is configured).
//   npm run token -- --scope "system/*.cruds" [--organization Organization/1] [--patient 123] [--sub me] [--hours 8]
// With AUTH_JWKS_URL set and no AUTH_JWT_SECRET the server accepts no HS256 tokens: get tokens from
// your issuer, or from POST /auth/token as a registered backend-services client.
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
if (config.authJwksUrl && !config.authJwtSecret) {
  process.stderr.write(
    'AUTH_JWKS_URL is set and AUTH_JWT_SECRET is not: this server accepts no HS256 tokens.\n' +
      'Use a token from your issuer, or one from POST /auth/token (SMART Backend Services).\n'
  );
  process.exit(1);
}
const hours = Number(values.hours);
if (!Number.isFinite(hours) || hours <= 0) {
  process.stderr.write(`--hours must be a positive number, got "${values.hours}"\n`);
  process.exit(1);
}
const secret = loadSigningSecret(config, { create: true });
if (!secret) throw new Error('No signing secret available');
const claims: Record<string, string> = { scope: values.scope as string };
if (values.organization) claims.organization = values.organization;
if (values.patient) claims.patient = values.patient;
const token = jwt.sign(claims, secret.secret, {
  algorithm: 'HS256',
  subject: values.sub,
  expiresIn: Math.round(hours * 3600),
  audience: `${config.publicBaseUrl}/fhir`,
});
process.stdout.write(`${token}\n`);
