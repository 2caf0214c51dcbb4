// The key sets of apps registered with a JWKS URL (private_key_jwt, SMART
// `client-confidential-asymmetric`), fetched by the server itself rather than by oidc-provider, so
// that the fetch is bounded like the backend-services clients' (src/auth/jwks-cache.ts: 5 s
// timeout, 64 KB, no redirects) and cached: a set is reused for up to 10 minutes (less when its
// Cache-Control says so) and fetched again sooner only when an assertion names a `kid` it lacks
// (key rotation), at most once per 30 s (5 s after a failure) per URL.
//
// Before oidc-provider authenticates a token request with a client assertion, `prepare` makes sure
// the app's set is loaded (and fresh for the assertion's kid); the provider's client then carries
// that set inline (app-clients.ts `clientMetadata`). A set that cannot be fetched is the client's
// failure to authenticate: `invalid_client`, never a 5xx.
import { decodeJwt, decodeProtectedHeader, errors, type JSONWebKeySet } from 'jose';
import { JwksUnavailableError, RemoteJwks, type RemoteJwksOptions } from '../auth/jwks-cache.js';
import type { AppClients } from './app-clients.js';

/** Distinct JWKS URLs kept; beyond, the least recently used set is dropped (fetched again when needed). */
const MAX_SETS = 1000;
const DEFAULTS: RemoteJwksOptions = { maxBytes: 64 * 1024, timeoutMs: 5_000, maxAgeMs: 600_000, cooldownMs: 30_000, retryMs: 5_000 };

export class ClientKeySets {
  private readonly sets = new Map<string, RemoteJwks>();

  constructor(
    private readonly clients: AppClients,
    private readonly options: RemoteJwksOptions = {}
  ) {}

  /** The keys fetched so far from `url` (what the provider's client gets inline). */
  readonly current = (url: string): JSONWebKeySet | undefined => this.sets.get(url)?.keySet;

  /**
   * For a token request carrying `assertion`: loads the key set of the app it names when that app
   * registered a JWKS URL. Returns a reason when the set cannot be had (the request is then refused
   * with invalid_client); anything else about the assertion is left to oidc-provider's checks.
   */
  async prepare(assertion: string): Promise<string | undefined> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let clientId: unknown;
    try {
      header = decodeProtectedHeader(assertion);
      clientId = decodeJwt(assertion).sub;
    } catch {
      return undefined;
    }
    if (typeof clientId !== 'string') return undefined;
    const client = await this.clients.get(clientId);
    if (!client?.jwksUri) return undefined;
    const remote = this.remote(client.jwksUri);
    try {
      // Resolving the assertion's key (re)fetches the set when it is missing, stale or lacks the kid.
      await remote.getKey(header, { payload: '', signature: '' } as never);
    } catch (err) {
      if (err instanceof JwksUnavailableError) return `the app's key set could not be fetched: ${err.message}`;
      // No matching or several matching keys, a bad header…: oidc-provider refuses it with invalid_client.
      if (err instanceof errors.JOSEError || err instanceof TypeError) return undefined;
      throw err;
    }
    return undefined;
  }

  private remote(url: string): RemoteJwks {
    let remote = this.sets.get(url);
    if (remote) {
      // Most recently used last.
      this.sets.delete(url);
    } else {
      remote = new RemoteJwks(url, { ...DEFAULTS, ...this.options });
      if (this.sets.size >= MAX_SETS) this.sets.delete(this.sets.keys().next().value as string);
    }
    this.sets.set(url, remote);
    return remote;
  }
}
