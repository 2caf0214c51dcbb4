// Wires the auth pieces from the configuration (called by src/server.ts): which tokens the FHIR
// endpoint accepts, the server's signing key, the registered backend clients and the router for
// the unauthenticated auth endpoints.
//   AUTH_JWT_SECRET set              → HS256 tokens signed with it;
//   AUTH_JWKS_URL + AUTH_ISSUER set  → RS256/RS384/ES256/ES384 tokens from that issuer;
//   neither                          → HS256 with the DATA_DIR development secret (created on first
//                                      start; `npm run token` mints tokens for it);
//   always                           → tokens from our own POST /auth/token (key in DATA_DIR).
import path from 'node:path';
import type express from 'express';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import { loadClients } from './clients.js';
import { RemoteJwks, type RemoteJwksOptions } from './jwks-cache.js';
import { authRouter, type TokenRequestAudit } from './router.js';
import { loadSigningSecret, SECRET_FILE } from './secret.js';
import { loadServerKey, type ServerKey } from './server-key.js';
import { smartUrls, tokenIssuer } from './smart-config.js';
import { TokenEndpoint } from './token-endpoint.js';
import { createTokenVerifier, type TokenVerifier } from './verify-token.js';

export interface Auth {
  verifier: TokenVerifier;
  router: express.Router;
  serverKey: ServerKey;
  tokenEndpoint: TokenEndpoint;
  /** The issuer's key set when AUTH_JWKS_URL is configured. */
  issuerJwks?: RemoteJwks;
  /** Set its listener to audit the client_credentials requests of /auth/token. */
  tokenAudit: TokenRequestAudit;
}

export interface AuthSetupOptions {
  /** Cache/rate options for remote key sets (the issuer's and clients' jwks_uri). */
  remoteJwks?: RemoteJwksOptions;
}

/**
 * The command that mints a token for this server, naming the settings it was started with that the
 * token depends on: the secret lives in DATA_DIR and the token's aud is PUBLIC_BASE_URL/fhir (from
 * PORT), so a bare `npm run token` against a server on another port or data directory is refused.
 */
export function mintTokenCommand(config: Pick<Config, 'port' | 'publicBaseUrl' | 'dataDir'>): string {
  const settings: string[] = [];
  if (config.dataDir !== path.resolve('./data')) settings.push(`DATA_DIR=${shellWord(config.dataDir)}`);
  if (config.publicBaseUrl !== `http://localhost:${config.port}`) settings.push(`PUBLIC_BASE_URL=${shellWord(config.publicBaseUrl)}`);
  else if (config.port !== 8080) settings.push(`PORT=${config.port}`);
  return [...settings, 'npm run token -- --scope "system/*.cruds"'].join(' ');
}

function shellWord(value: string): string {
  return /^[\w@%+=:,./-]+$/.test(value) ? value : `'${value.replace(/'/g, `'\\''`)}'`;
}

export async function createAuth(config: Config, fhirBaseUrl: string, logger: Logger, options: AuthSetupOptions = {}): Promise<Auth> {
  if (Boolean(config.authJwksUrl) !== Boolean(config.authIssuer)) {
    throw new Error('AUTH_JWKS_URL and AUTH_ISSUER must be set together');
  }
  let hs256Secret: string | undefined;
  if (config.authJwtSecret || !config.authJwksUrl) {
    const secret = loadSigningSecret(config, { create: true });
    if (!secret) throw new Error('No token signing secret could be loaded or created');
    hs256Secret = secret.secret;
    if (secret.source === 'DATA_DIR') {
      logger.info(secret.created ? 'created a development token secret' : 'using the development token secret', {
        file: `${config.dataDir}/${SECRET_FILE}`,
        mintToken: mintTokenCommand(config),
      });
    }
  }
  let issuerJwks: RemoteJwks | undefined;
  if (config.authJwksUrl && config.authIssuer) {
    issuerJwks = new RemoteJwks(config.authJwksUrl, options.remoteJwks);
    logger.info('accepting tokens from a JWKS issuer', { issuer: config.authIssuer, jwksUrl: config.authJwksUrl });
  }
  const { key: serverKey, created, file } = await loadServerKey(config.dataDir);
  if (created) logger.info('created the token-endpoint signing key', { file });
  const signin = await loadServerKey(config.dataDir, 'signin');
  if (signin.created) logger.info('created the sign-in signing key', { file: signin.file });
  const signinKey = signin.key;
  const clients = loadClients(config.authClientsFile);
  if (config.authClientsFile) logger.info('registered backend-services clients', { file: config.authClientsFile, clients: clients.length });
  const issuer = tokenIssuer(config.publicBaseUrl);
  const tokenEndpoint = new TokenEndpoint({
    clients,
    serverKey,
    tokenUrl: smartUrls(config.publicBaseUrl).tokenEndpoint,
    issuer,
    audience: fhirBaseUrl,
    remoteJwks: options.remoteJwks,
  });
  const verifier = createTokenVerifier({
    fhirBaseUrl,
    hs256Secret,
    jwks: issuerJwks && config.authIssuer ? { issuer: config.authIssuer, getKey: issuerJwks.getKey } : undefined,
    serverKeys: [serverKey, signinKey].map((k) => ({ issuer, kid: k.kid, alg: k.alg, publicKey: k.publicKey })),
  });
  const tokenAudit: TokenRequestAudit = {};
  const router = authRouter({ tokenEndpoint, tokenAudit, serverKeys: [serverKey, signinKey], publicBaseUrl: config.publicBaseUrl, logger });
  return { verifier, router, serverKey, tokenEndpoint, issuerJwks, tokenAudit };
}
