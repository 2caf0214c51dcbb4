// The health card issuer of this server: iss = PUBLIC_BASE_URL, keys and the rid secret in
// DATA_DIR, revocation lists in the store, and what verifiers fetch without a token (CORS open to
// every origin): GET /.well-known/jwks.json (each key with its `crlVersion`) and
// GET /.well-known/crl/{kid}.json (the key's Card Revocation List). Both read the store: while it
// is down they answer 503 (the error edge), never a key set without crlVersion.
import express from 'express';
import type { JWK } from 'jose';
import type { Config } from '../config.js';
import { notFound } from '../fhir/outcome.js';
import type { FrontDoorServices } from '../pipeline/front-door.js';
import type { Store } from '../store/store.js';
import { IssuerKeys } from './issuer-keys.js';
import { HealthLinks } from './link-store.js';
import { RevocationLists, type RevokeResult } from './revocation-list.js';
import { RidSecret } from './rid.js';
import type { CodeSets } from '../terminology/code-sets.js';

export class HealthCardIssuer {
  /** `iss` of every card, and the base of its key set URL. */
  readonly iss: string;
  readonly keys: IssuerKeys;
  readonly rids: RidSecret;
  readonly revocations: RevocationLists;
  /** The SMART Health Links made for patients' cards (link-store.ts). */
  readonly links: HealthLinks;
  /**
   * The server's code sets: a dose recorded by NDC alone gets the CVX of its NDC on the card (the
   * vaccination IG lists CVX, not NDC, among the vaccineCode systems verifiers read).
   */
  readonly codeSets: CodeSets | undefined;

  constructor(config: Pick<Config, 'dataDir' | 'publicBaseUrl'>, store: Store, codeSets?: CodeSets) {
    this.iss = config.publicBaseUrl;
    this.codeSets = codeSets;
    this.keys = new IssuerKeys(config.dataDir);
    this.rids = new RidSecret(config.dataDir);
    this.revocations = new RevocationLists(store);
    this.links = new HealthLinks(store);
  }

  /**
   * Revokes the patient's cards issued before `before`, under every key (a card carries the rid of
   * the key that signed it). The time is taken up to the next whole second, as a card's nbf is in
   * whole seconds: a card issued in that last partial second is revoked too. Every SMART Health
   * Link of the patient is deactivated as well (after the lists: a link would otherwise keep
   * handing out cards), whatever `before` is: a link shares cards from now on.
   */
  async revokePatient(patientId: string, before: Date): Promise<{ before: number; lists: RevokeResult[]; linksDeactivated: number }> {
    const seconds = Math.ceil(before.getTime() / 1000);
    const revocations = (await this.keys.kids()).map((kid) => ({ kid, rid: this.rids.ridFor(kid, patientId) }));
    const lists = await this.revocations.revoke(revocations, seconds);
    return { before: seconds, lists, linksDeactivated: await this.links.revokePatient(patientId) };
  }

  /** The published key set: every key with the counter of its revocation list. */
  async jwks(): Promise<{ keys: JWK[] }> {
    const { keys } = await this.keys.jwks();
    const versions = await this.revocations.versions(keys.map((k) => k.kid as string));
    return { keys: keys.map((k) => ({ ...k, crlVersion: versions.get(k.kid as string) ?? 1 })) };
  }
}

/** `{kid}.json`: a kid is a base64url SHA-256 thumbprint (43 characters). */
const CRL_FILE = /^([A-Za-z0-9_-]{43})\.json$/;

/**
 * GET /.well-known/jwks.json: every issuer key, old ones included (cards signed before a rotation
 * still verify), each with `crlVersion`. GET /.well-known/crl/{kid}.json: its revocation list.
 * Creates the first key and the rid secret in DATA_DIR when the server starts.
 */
export async function healthCardsFrontDoor(services: Pick<FrontDoorServices, 'config' | 'systemStore'>): Promise<express.Router> {
  const issuer = new HealthCardIssuer(services.config, services.systemStore);
  await issuer.keys.jwks();
  issuer.rids.value();
  const router = express.Router();
  // Verifiers refetch a list when crlVersion changes, so the key set is cached briefly and the
  // lists are revalidated every time (their ETag is the counter).
  router.get('/.well-known/jwks.json', (_req, res, next) => {
    issuer
      .jwks()
      .then((jwks) => {
        res.setHeader('Access-Control-Allow-Origin', '*');
        res.setHeader('Cache-Control', 'public, max-age=300');
        res.type('application/json').send(JSON.stringify(jwks));
      })
      .catch(next);
  });
  router.get('/.well-known/crl/:file', (req, res, next) => {
    res.setHeader('Access-Control-Allow-Origin', '*');
    const kid = CRL_FILE.exec(req.params.file)?.[1];
    (async () => {
      if (!kid || !(await issuer.keys.kids()).includes(kid)) throw notFound(`No issuer key ${req.params.file.replace(/\.json$/, '')}: no revocation list`);
      const list = await issuer.revocations.list(kid);
      const etag = `"${list.ctr}"`;
      res.setHeader('Cache-Control', 'no-cache');
      res.setHeader('ETag', etag);
      if (req.headers['if-none-match'] === etag) {
        res.status(304).end();
        return;
      }
      res.type('application/json').send(JSON.stringify(list));
    })().catch(next);
  });
  return router;
}
