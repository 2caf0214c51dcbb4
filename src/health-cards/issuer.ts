// The health card issuer of this server: iss = PUBLIC_BASE_URL, keys in DATA_DIR, and the
// unauthenticated key set verifiers fetch: GET /.well-known/jwks.json (CORS open to every origin).
import express from 'express';
import type { Config } from '../config.js';
import type { FrontDoorServices } from '../pipeline/front-door.js';
import { IssuerKeys } from './issuer-keys.js';

export class HealthCardIssuer {
  /** `iss` of every card, and the base of its key set URL. */
  readonly iss: string;
  readonly keys: IssuerKeys;

  constructor(config: Pick<Config, 'dataDir' | 'publicBaseUrl'>) {
    this.iss = config.publicBaseUrl;
    this.keys = new IssuerKeys(config.dataDir);
  }
}

/**
 * GET /.well-known/jwks.json: every issuer key, old ones included (cards signed before a rotation
 * still verify). Creates the first key in DATA_DIR when the server starts.
 */
export async function healthCardsFrontDoor(services: Pick<FrontDoorServices, 'config'>): Promise<express.Router> {
  const issuer = new HealthCardIssuer(services.config);
  await issuer.keys.jwks();
  const router = express.Router();
  router.get('/.well-known/jwks.json', (_req, res, next) => {
    issuer.keys
      .jwks()
      .then((jwks) => {
        res.setHeader('Access-Control-Allow-Origin', '*');
        res.setHeader('Cache-Control', 'public, max-age=3600');
        res.type('application/json').send(JSON.stringify(jwks));
      })
      .catch(next);
  });
  return router;
}
