// Access tokens revoked before their exp (RFC 7009). People's access tokens are self-contained JWTs
// that oidc-provider never stores, so revoking one (POST /auth/revoke by the app it was issued to),
// or ending its grant (revoking the refresh token, signing out, a reused code or refresh token),
// left it working until it expired. Here the revoked ones are named:
//   - a token by its `jti`, until its exp;
//   - a grant by `grant_ref` (a hash of the grant id that every access token of ours carries,
//     provider.ts), for an access token's lifetime after the grant ended: every token it issued
//     has expired by then;
//   - an app by `client_id`, once it is removed (its registration deleted, RFC 7592, or an
//     administrator's removal): the tokens issued to it up to then, for an access token's lifetime.
// Each entry is a short-lived record of the store (namespace `signin`, both stores) that expires
// with what it names, and a Map entry in memory: the FHIR token verifier (src/auth/verify-token.ts)
// asks `isRevoked` on every request, verified-token cache hits included, so the check is two Map
// lookups (none while nothing is revoked), never a store read. This process's revocations apply
// at once; other processes' (a shared MongoDB) are read every few seconds, as the disabled users
// are (revocations.ts).
import type { RevokedTokens, TokenIdentity } from '../auth/verify-token.js';
import type { Logger } from '../logger.js';
import type { ExpiringRecords } from '../store/expiring.js';
import { PolledList } from './polled-list.js';
import { artifactHash } from './provider-adapter.js';

/** The lookup every revocation record carries: `token`, `grant` or `client`. */
const REVOKED_LOOKUP = 'revoked';
/** Kept past the token's exp a little longer than the verifier's clock tolerance (5 s). */
const PAST_EXPIRY_MS = 60_000;

/** The `grant_ref` claim of the access tokens issued under a grant (the grant id itself is not shown). */
export function grantRef(grantId: string): string {
  return artifactHash('GrantRef', grantId);
}

export class RevokedAccessTokens extends PolledList implements RevokedTokens {
  readonly reason = 'it, or the grant it was issued under (a revoked refresh token, a sign-out), or its app (removed), was revoked before it expired';
  /** jti → until when (epoch ms) it is refused. */
  private readonly tokens = new Map<string, number>();
  /** grant_ref → until when (epoch ms) the grant's tokens are refused. */
  private readonly grants = new Map<string, number>();
  /** client_id → the app's removal (`at`, seconds: tokens issued then or before are refused) and until when (epoch ms). */
  private readonly clients = new Map<string, { at: number; until: number }>();

  constructor(
    private readonly records: ExpiringRecords,
    /** Only this issuer's tokens (people's tokens of src/signin) are ever named here. */
    private readonly issuer: string,
    /** An access token's lifetime: how long after a grant ends one of its tokens may still be live. */
    private readonly tokenSeconds: number,
    logger?: Logger
  ) {
    super("could not read the revoked access tokens (other processes' revocations apply from the next read on)", logger);
  }

  isRevoked({ issuer, jti, grant, client, issuedAt }: TokenIdentity): boolean {
    if (issuer !== this.issuer || (this.tokens.size === 0 && this.grants.size === 0 && this.clients.size === 0)) return false;
    const now = Date.now();
    if ((jti !== undefined && (this.tokens.get(jti) ?? 0) > now) || (grant !== undefined && (this.grants.get(grant) ?? 0) > now)) return true;
    const removed = client !== undefined ? this.clients.get(client) : undefined;
    // A token without iat cannot show it came after the removal (an app registered again under the same id): refused.
    return removed !== undefined && removed.until > now && (issuedAt === undefined || issuedAt <= removed.at);
  }

  /** Refuses the access token `jti` (expiring at `exp`, seconds) from now on, on every process. */
  async revokeToken(jti: string, exp: number): Promise<void> {
    const until = exp * 1000 + PAST_EXPIRY_MS;
    // In memory first: this process refuses it even if the store write fails (the app is told 503).
    this.note(this.tokens, jti, until);
    await this.records.put({ key: artifactHash('RevokedAccessToken', jti), value: { jti }, expiresAt: until, lookups: { [REVOKED_LOOKUP]: 'token' } });
  }

  /** Refuses every access token issued under the grant (oidc-provider's grant id), on every process. */
  async revokeGrant(grantId: string): Promise<void> {
    const ref = grantRef(grantId);
    const until = Date.now() + this.tokenSeconds * 1000 + PAST_EXPIRY_MS;
    this.note(this.grants, ref, until);
    await this.records.put({ key: artifactHash('RevokedGrant', grantId), value: { grant: ref }, expiresAt: until, lookups: { [REVOKED_LOOKUP]: 'grant' } });
  }

  /** Refuses every access token issued to the app so far (it was removed), on every process. */
  async revokeClient(clientId: string): Promise<void> {
    const at = Math.floor(Date.now() / 1000);
    const until = Date.now() + this.tokenSeconds * 1000 + PAST_EXPIRY_MS;
    this.noteClient(clientId, at, until);
    await this.records.put({ key: artifactHash('RevokedClient', `${clientId}\n${at}`), value: { client: clientId, at }, expiresAt: until, lookups: { [REVOKED_LOOKUP]: 'client' } });
  }

  /** Reads the revocations of every process (PolledList: at start and then every pollSeconds); drops the expired. */
  protected async read(): Promise<void> {
    // The three lists at once: a poll costs one store round trip's time, not three.
    const [tokens, grants, clients] = await Promise.all(['token', 'grant', 'client'].map((kind) => this.records.listBy(REVOKED_LOOKUP, kind)));
    for (const record of tokens) {
      if (typeof record.value.jti === 'string') this.note(this.tokens, record.value.jti, record.expiresAt);
    }
    for (const record of grants) {
      if (typeof record.value.grant === 'string') this.note(this.grants, record.value.grant, record.expiresAt);
    }
    for (const record of clients) {
      if (typeof record.value.client === 'string' && typeof record.value.at === 'number') this.noteClient(record.value.client, record.value.at, record.expiresAt);
    }
    const now = Date.now();
    for (const map of [this.tokens, this.grants]) for (const [id, until] of map) if (until <= now) map.delete(id);
    for (const [id, { until }] of this.clients) if (until <= now) this.clients.delete(id);
  }

  private noteClient(clientId: string, at: number, until: number): void {
    const known = this.clients.get(clientId);
    this.clients.set(clientId, { at: Math.max(known?.at ?? 0, at), until: Math.max(known?.until ?? 0, until) });
  }

  private note(map: Map<string, number>, id: string, until: number): void {
    map.set(id, Math.max(map.get(id) ?? 0, until));
  }
}
