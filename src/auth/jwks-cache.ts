// A remote JSON Web Key Set, cached: fetched on first use, refetched when older than its max age
// (the smaller of our limit and the response's Cache-Control max-age) or when a token names a key
// (`kid`) the cached set lacks, which is how an issuer's key rotation is picked up. Refetches are
// rate-bounded: at most one per `cooldownMs` after a successful fetch and one per `retryMs` after a
// failed one, however many tokens with unknown kids arrive; concurrent callers share one fetch.
// Redirects are refused, the response is size-limited and times out.
import { createLocalJWKSet, errors, type FlattenedJWSInput, type JSONWebKeySet, type JWK, type JWSHeaderParameters } from 'jose';

export interface RemoteJwksOptions {
  /** Minimum time between a successful fetch and the next one (unknown kid). Default 30 s. */
  cooldownMs?: number;
  /** Minimum time between a failed fetch and the next attempt. Default 5 s. */
  retryMs?: number;
  /** Keys older than this are refetched (when the rate bound allows). Default 10 min. */
  maxAgeMs?: number;
  timeoutMs?: number;
  maxBytes?: number;
  /** Clock in ms, for tests. */
  now?: () => number;
}

/** The key set could not be fetched (network, HTTP status, not a JWKS). */
export class JwksUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'JwksUnavailableError';
  }
}

type KeyResolver = ReturnType<typeof createLocalJWKSet>;
type ResolvedKey = Awaited<ReturnType<KeyResolver>>;

export class RemoteJwks {
  /** Outbound fetch attempts so far (for tests and diagnostics). */
  fetches = 0;
  private resolver?: KeyResolver;
  private loadedSet?: JSONWebKeySet;
  private fetchedAt = 0;
  private maxAgeOfSet: number;
  private lastAttempt = Number.NEGATIVE_INFINITY;
  private lastFailed = false;
  private lastError?: Error;
  private inflight?: Promise<void>;
  private readonly cooldownMs: number;
  private readonly retryMs: number;
  private readonly maxAgeMs: number;
  private readonly timeoutMs: number;
  private readonly maxBytes: number;
  private readonly now: () => number;

  constructor(
    readonly url: string,
    options: RemoteJwksOptions = {}
  ) {
    const parsed = new URL(url);
    if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new Error(`JWKS URL must be http(s): ${url}`);
    this.cooldownMs = options.cooldownMs ?? 30_000;
    this.retryMs = options.retryMs ?? 5_000;
    this.maxAgeMs = options.maxAgeMs ?? 600_000;
    this.maxAgeOfSet = this.maxAgeMs;
    this.timeoutMs = options.timeoutMs ?? 5_000;
    this.maxBytes = options.maxBytes ?? 256 * 1024;
    this.now = options.now ?? Date.now;
  }

  /** The public keys loaded last (undefined before the first successful fetch). */
  get keySet(): JSONWebKeySet | undefined {
    return this.loadedSet;
  }

  /** A jose key resolver (pass to jwtVerify). */
  readonly getKey = async (header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<ResolvedKey> => {
    if (!this.resolver || this.now() - this.fetchedAt > this.maxAgeOfSet) {
      await this.refresh(!this.resolver);
    }
    const resolver = this.resolver;
    if (!resolver) throw this.unavailable();
    try {
      return await resolver(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      // Unknown kid: maybe the issuer rotated its keys. Refetch if the rate bound allows.
      if (!(await this.refresh(false))) throw err;
      return (this.resolver as KeyResolver)(header, token);
    }
  };

  /** Resolves true when a fresh set was loaded now; false when the rate bound refused a fetch or it failed. */
  private async refresh(mustHave: boolean): Promise<boolean> {
    if (!this.inflight) {
      const wait = this.lastFailed ? this.retryMs : this.cooldownMs;
      if (this.now() - this.lastAttempt < wait) {
        if (mustHave && !this.resolver) throw this.unavailable();
        return false;
      }
      this.lastAttempt = this.now();
      this.inflight = this.load()
        .then(
          () => {
            this.lastFailed = false;
          },
          (err: unknown) => {
            this.lastFailed = true;
            this.lastError = err as Error;
          }
        )
        .finally(() => {
          this.inflight = undefined;
        });
    }
    await this.inflight;
    // On failure we keep serving the keys we have (stale), if any.
    if (mustHave && !this.resolver) throw this.unavailable();
    return !this.lastFailed;
  }

  private unavailable(): Error {
    return this.lastError ?? new JwksUnavailableError(`The key set at ${this.url} is not available`);
  }

  private async load(): Promise<void> {
    this.fetches++;
    let res: Response;
    try {
      res = await fetch(this.url, {
        headers: { accept: 'application/json, application/jwk-set+json' },
        redirect: 'error',
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new JwksUnavailableError(`The key set at ${this.url} could not be fetched: ${(err as Error).message}`, { cause: err });
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new JwksUnavailableError(`The key set at ${this.url} answered HTTP ${res.status}`);
    }
    const length = Number(res.headers.get('content-length') ?? '0');
    if (length > this.maxBytes) {
      await res.body?.cancel();
      throw new JwksUnavailableError(`The key set at ${this.url} is larger than ${this.maxBytes} bytes`);
    }
    const text = await readLimited(res, this.maxBytes, this.url);
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new JwksUnavailableError(`The key set at ${this.url} is not JSON`);
    }
    const jwks = publicKeySet(parsed);
    if (!jwks) throw new JwksUnavailableError(`The document at ${this.url} is not a JSON Web Key Set`);
    this.resolver = createLocalJWKSet(jwks);
    this.loadedSet = jwks;
    this.fetchedAt = this.now();
    this.maxAgeOfSet = Math.min(this.maxAgeMs, cacheMaxAge(res.headers.get('cache-control')) ?? Number.POSITIVE_INFINITY);
  }
}

/** The public keys of a JWKS document (private members dropped), or undefined if it is not one. */
export function publicKeySet(value: unknown): JSONWebKeySet | undefined {
  if (typeof value !== 'object' || value === null || !Array.isArray((value as { keys?: unknown }).keys)) return undefined;
  const keys = ((value as { keys: unknown[] }).keys as unknown[]).filter(
    (k): k is JWK => typeof k === 'object' && k !== null && typeof (k as JWK).kty === 'string'
  );
  return { keys: keys.map(publicPart) };
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'];
function publicPart(jwk: JWK): JWK {
  const copy: Record<string, unknown> = { ...jwk };
  for (const member of PRIVATE_MEMBERS) delete copy[member];
  return copy as JWK;
}

/** Cache-Control max-age in ms (no-store / no-cache: 0), or undefined when none is given. */
function cacheMaxAge(header: string | null): number | undefined {
  if (!header) return undefined;
  if (/\b(no-store|no-cache)\b/i.test(header)) return 0;
  const match = /\bmax-age\s*=\s*(\d+)/i.exec(header);
  return match ? Number(match[1]) * 1000 : undefined;
}

async function readLimited(res: Response, maxBytes: number, url: string): Promise<string> {
  if (!res.body) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    total += chunk.byteLength;
    if (total > maxBytes) throw new JwksUnavailableError(`The key set at ${url} is larger than ${maxBytes} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
