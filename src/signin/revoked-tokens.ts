// Access tokens revoked before their exp (RFC 7009). People's access tokens are self-contained JWTs
// that oidc-provider never stores, so revoking one (POST /auth/revoke by the app it was issued to),
// or ending its grant (revoking the refresh token, signing out, a reused code or refresh token),
// left it working until it expired. Here the revoked ones are named:
//   - a token by its `jti`, until its exp;
//   - a grant by `grant_ref` (a hash of the grant id that every access token of ours carries,
//     provider.ts), for an access token's lifetime after the grant ended: every token it issued
//     has expired by then.
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

/** The lookup every revocation record carries: `token` or `grant`. */
const REVOKED_LOOKUP = 'revoked';
/** Kept past the token's exp a little longer than the verifier's clock tolerance (5 s). */
const PAST_EXPIRY_MS = 60_000;

/** The `grant_ref` claim of the access tokens issued under a grant (the grant id itself is not shown). */
export function grantRef(grantId: string): string {
  return artifactHash('GrantRef', grantId);
}

export class RevokedAccessTokens extends PolledList implements RevokedTokens {
  readonly reason = 'it, or the grant it was issued under (a revoked refresh token, a sign-out), was revoked before it expired';
  /** jti → until when (epoch ms) it is refused. */
  private readonly tokens = new Map<string, number>();
  /** grant_ref → until when (epoch ms) the grant's tokens are refused. */
  private readonly grants = new Map<string, number>();

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

  isRevoked({ issuer, jti, grant }: TokenIdentity): boolean {
    if (issuer !== this.issuer || (this.tokens.size === 0 && this.grants.size === 0)) return false;
    const now = Date.now();
    return (jti !== undefined && (this.tokens.get(jti) ?? 0) > now) || (grant !== undefined && (this.grants.get(grant) ?? 0) > now);
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

  /** Reads the revocations of every process (PolledList: at start and then every pollSeconds); drops the expired. */
  protected async read(): Promise<void> {
    for (const record of await this.records.listBy(REVOKED_LOOKUP, 'token')) {
      if (typeof record.value.jti === 'string') this.note(this.tokens, record.value.jti, record.expiresAt);
    }
    for (const record of await this.records.listBy(REVOKED_LOOKUP, 'grant')) {
      if (typeof record.value.grant === 'string') this.note(this.grants, record.value.grant, record.expiresAt);
    }
    const now = Date.now();
    for (const map of [this.tokens, this.grants]) for (const [id, until] of map) if (until <= now) map.delete(id);
  }

  private note(map: Map<string, number>, id: string, until: number): void {
    map.set(id, Math.max(map.get(id) ?? 0, until));
  }
}
