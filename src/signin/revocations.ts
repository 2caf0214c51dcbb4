// People's access tokens are self-contained JWTs (15 minutes by default): without this, a user
// disabled by an administrator kept using the tokens already issued until they expired. The FHIR
// token verifier (src/auth/verify-token.ts) asks `isRevoked` on every request, the verified-token
// cache's hits included, so the check is a lookup in memory: the people disabled (user id → when,
// in seconds), whose tokens issued until then are refused. It is filled at once by this process's
// own changes (UserDirectory's onChange) and by reading the user directory every few seconds, for
// the changes other server processes make on a shared MongoDB. An entry is kept for an access
// token's lifetime after the user is enabled again, so the tokens issued before the disabling
// never come back.
import type { RevokedTokens, TokenIdentity } from '../auth/verify-token.js';
import type { Logger } from '../logger.js';
import { PolledList } from './polled-list.js';
import type { User, UserDirectory } from './users.js';

export const DEFAULT_REVOCATION_POLL_SECONDS = 5;

export class DisabledUsers extends PolledList implements RevokedTokens {
  readonly reason = 'its user has been disabled since it was issued';
  /** User id → the moment (epoch seconds) from which the user's earlier tokens are refused. */
  private readonly disabledAt = new Map<string, number>();

  constructor(
    private readonly users: UserDirectory,
    /** People's tokens come from here (`iss`); other issuers' subjects are not users. */
    private readonly issuer: string,
    /** An access token's lifetime: how long an enabled-again user's entry must outlive its tokens. */
    private readonly tokenSeconds: number,
    logger?: Logger
  ) {
    super('could not read the disabled users (their tokens are refused from the next read on)', logger);
  }

  isRevoked({ issuer, subject, issuedAt }: TokenIdentity): boolean {
    if (issuer !== this.issuer || subject === undefined || this.disabledAt.size === 0) return false;
    const since = this.disabledAt.get(subject);
    // A token without iat cannot show it came after: refused while the entry lasts.
    return since !== undefined && (issuedAt === undefined || issuedAt <= since);
  }

  /** A user as just written by this process. */
  noteUser(user: User): void {
    if (!user.active) this.disabledAt.set(user.id, Math.max(this.disabledAt.get(user.id) ?? 0, Math.floor(Date.parse(user.updatedAt) / 1000) || nowSeconds()));
  }

  /** Reads the whole directory (PolledList: at start and then every pollSeconds). */
  protected async read(): Promise<void> {
    const disabled = new Set<string>();
    for (const user of await this.users.list()) {
      if (user.active) continue;
      disabled.add(user.id);
      this.noteUser(user);
    }
    const now = nowSeconds();
    for (const [id, since] of this.disabledAt) if (!disabled.has(id) && now - since > this.tokenSeconds + 60) this.disabledAt.delete(id);
  }

  override start(pollSeconds = DEFAULT_REVOCATION_POLL_SECONDS): void {
    super.start(pollSeconds);
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
