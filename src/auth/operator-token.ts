// The token the operator's command-line tools (npm run users / clients / health-cards) send to the
// running server: a public-health (no organization) system token signed by the server's own key,
// so only someone who can read DATA_DIR can mint one. Short-lived: one CLI invocation.
import { SignJWT } from 'jose';
import type { Config } from '../config.js';
import { loadServerKey } from './server-key.js';
import { tokenIssuer } from './smart-config.js';

export async function operatorToken(config: Pick<Config, 'dataDir' | 'publicBaseUrl'>, scope: string): Promise<string> {
  const { key } = await loadServerKey(config.dataDir);
  return new SignJWT({ scope, client_id: 'iis-cli' })
    .setProtectedHeader({ alg: key.alg, kid: key.kid })
    .setIssuer(tokenIssuer(config.publicBaseUrl))
    .setSubject(`cli:${process.env.USER ?? 'operator'}`)
    .setAudience(`${config.publicBaseUrl}/fhir`)
    .setIssuedAt()
    .setExpirationTime('2m')
    .sign(key.privateKey);
}
