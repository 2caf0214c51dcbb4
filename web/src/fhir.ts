// The SMART launch (fhirclient) and the one door every API call goes through: the access token
// from the launch, FHIR JSON in and out, and every failure turned into an ApiError in plain words.
import FHIR from 'fhirclient';
import type Client from 'fhirclient/lib/Client';
import type { OperationOutcome, Resource } from './fhir-types';
import { DRAFTS_KEY } from './drafts';
import { describeFailure, STATUS_TEXT } from './errors';

export const CLIENT_ID = 'iis-web-app';
// offline_access: a refresh token (rotated at each use, ended by the sign-in server's idle and
// session limits, SIGNIN_IDLE_MINUTES / SIGNIN_MAX_SESSION_HOURS), so a user at work is not signed
// out each time an access token runs out (SIGNIN_ACCESS_TOKEN_MINUTES); the API door refreshes it.
export const SCOPE = 'openid fhirUser profile offline_access user/*.cruds';
const RETURN_TO_KEY = 'iis-app-return-to';

// A public client names itself when it refreshes (the sign-in server refuses a refresh without
// client_id); fhirclient leaves it out unless told.
FHIR.oauth2.settings.refreshTokenWithClientId = true;

export function fhirBaseUrl(): string {
  return `${window.location.origin}/fhir`;
}

/** Starts a standalone launch against this server: the browser leaves for the sign-in page. */
export async function startLaunch(returnTo: string): Promise<void> {
  sessionStorage.setItem(RETURN_TO_KEY, returnTo);
  const authorizeUrl = await FHIR.oauth2.authorize({
    iss: fhirBaseUrl(),
    clientId: CLIENT_ID,
    scope: SCOPE,
    redirectUri: `${window.location.origin}/app/callback`,
    pkceMode: 'required',
    noRedirect: true,
  });
  // OpenID Connect grants offline_access only with prompt=consent (the web app is first-party: the
  // sign-in server asks no question for it); fhirclient has no option for prompt.
  window.location.assign(`${String(authorizeUrl)}&prompt=consent`);
}

let callback: Promise<Client> | undefined;

/** On /app/callback, starts the code exchange at once (main.tsx, before the screens' code loads). */
export function beginCallback(): void {
  if (window.location.pathname !== '/app/callback' || callback) return;
  callback = FHIR.oauth2.ready();
  // A failed exchange is shown by the App when it awaits this (completeLaunch), not reported early.
  callback.catch(() => undefined);
}

/** Completes the launch on /app/callback (or restores a session): the client, and where to go next. */
export async function completeLaunch(): Promise<{ client: Client; returnTo: string }> {
  const started = callback ?? FHIR.oauth2.ready();
  callback = undefined;
  const client = await started;
  const returnTo = sessionStorage.getItem(RETURN_TO_KEY) ?? '/app/';
  sessionStorage.removeItem(RETURN_TO_KEY);
  return { client, returnTo };
}

/** A session restored from this tab's storage, or undefined when the user has not signed in. */
export async function restoreSession(): Promise<Client | undefined> {
  if (!sessionStorage.getItem('SMART_KEY')) return undefined;
  try {
    const client = await FHIR.oauth2.ready();
    return client.getAuthorizationHeader() ? client : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Starts the sign-in again, on a fresh page load of the page the user was on. Not an authorize()
 * in this page: fhirclient reads the page's URL once per page load, and on a page loaded at
 * /app/callback that URL carries the sign-in server's `iss` (RFC 9207, the issuer `/auth`), which a
 * second authorize() takes as the FHIR server: "Sign in again" after the session ended then failed.
 */
export function restartSignIn(): void {
  // The tab's sign-in state goes; what the user had typed when the sign-in ended stays for the
  // same form after signing in again (src/drafts.ts).
  const drafts = sessionStorage.getItem(DRAFTS_KEY);
  sessionStorage.clear();
  if (drafts) sessionStorage.setItem(DRAFTS_KEY, drafts);
  const { pathname, search } = window.location;
  window.location.assign(pathname === '/app/callback' ? '/app/' : pathname + search);
}

/**
 * Signs the user out of the registry, not only of this tab: the refresh token is revoked, and the
 * browser goes to the sign-in server's logout (OpenID Connect RP-initiated logout), which ends its
 * session and comes back to /app/ (the sign-in form). Clearing the tab alone left that session
 * alive: the next visit to /app (another tab, the next person at a shared clinic computer) was
 * signed in as this user without a password.
 */
export async function signOutOfRegistry(client: Client): Promise<void> {
  const origin = window.location.origin;
  const idToken = client.getState('tokenResponse.id_token') as string | undefined;
  const refreshToken = client.getState('tokenResponse.refresh_token') as string | undefined;
  if (refreshToken) {
    try {
      await fetch(`${origin}/auth/revoke`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token', client_id: CLIENT_ID }),
      });
    } catch {
      // Unreachable now: ending the session below still signs the user out of the sign-in server.
    }
  }
  sessionStorage.clear();
  const params = new URLSearchParams({ client_id: CLIENT_ID, post_logout_redirect_uri: `${origin}/app/` });
  if (idToken) params.set('id_token_hint', idToken);
  window.location.assign(`${origin}/auth/logout?${params}`);
}

/** Claims of the access token the app shows or uses (the user's facility, who they are). */
export interface SessionInfo {
  user: string;
  organization?: string;
  fhirUser?: string;
  roles: string[];
  /** The access token's scopes (undefined when the token names none: the registry decides alone). */
  scopes?: string[];
}


/**
 * A `reports` user runs reminder/recall and coverage only (CONTRACT.md "Users, facilities and
 * sign-in"; the FHIR endpoint refuses its patient searches and reads): the app opens on Reports and
 * offers no screen or link that would only be refused.
 */
export function reportsOnly(info: SessionInfo): boolean {
  return info.roles.includes('reports');
}

export function sessionInfo(client: Client): SessionInfo {
  const token = String(client.getState('tokenResponse.access_token') ?? '');
  let claims: Record<string, unknown> = {};
  try {
    const payload = token.split('.')[1] ?? '';
    claims = JSON.parse(atob(payload.replace(/-/g, '+').replace(/_/g, '/'))) as Record<string, unknown>;
  } catch {
    claims = {};
  }
  const idClaims = (client.getIdToken?.() ?? {}) as Record<string, unknown>;
  const fhirUser = (claims.fhirUser ?? idClaims.fhirUser) as string | undefined;
  const roleClaim = claims.roles ?? claims.role ?? idClaims.roles ?? idClaims.role;
  return {
    user: String(claims.preferred_username ?? idClaims.preferred_username ?? claims.sub ?? idClaims.sub ?? 'signed-in user'),
    organization: (claims.organization ?? client.getState('tokenResponse.organization')) as string | undefined,
    fhirUser,
    roles: Array.isArray(roleClaim) ? roleClaim.map(String) : typeof roleClaim === 'string' ? roleClaim.split(/[ ,]+/) : [],
    scopes: typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : undefined,
  };
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly details: string[],
    readonly codes: string[],
    readonly outcome?: OperationOutcome
  ) {
    super(message);
  }
}

export interface Api {
  get<T = Resource>(path: string): Promise<T>;
  /**
   * Creates a resource asking for the answer's OperationOutcome (`Prefer: return=OperationOutcome`):
   * the rule warnings and notes it was stored with, and its id from `Location` (a Patient the
   * registry matched to an existing child answers 200 with that record's).
   */
  create(type: string, body: unknown): Promise<{ id?: string; outcome?: OperationOutcome }>;
  post<T = Resource>(path: string, body: unknown, headers?: Record<string, string>): Promise<T>;
  /** headers: e.g. If-Match (W/"versionId") so a record changed meanwhile answers 412, not overwritten. */
  put<T = Resource>(path: string, body: unknown, headers?: Record<string, string>): Promise<T>;
  /** A non-FHIR download (e.g. CSV) with the session's token. */
  text(path: string, accept: string): Promise<string>;
  /** The sign-in server's account administration (JSON under /auth/admin; errors are OperationOutcomes). */
  admin<T>(method: 'GET' | 'POST' | 'PATCH', path: string, body?: unknown): Promise<T>;
  /** The sign-in server's other JSON endpoints under /auth (e.g. launch: EHR launch of SMART apps). */
  signin<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T>;
}

/** fhirclient's own rule (refreshIfNeeded): a refresh token, and the access token ends within 10 s. */
function refreshDue(client: Client): boolean {
  const expiresAt = Number(client.state.expiresAt ?? 0);
  return Boolean(client.getState('tokenResponse.refresh_token')) && expiresAt - 10 < Date.now() / 1000;
}

export function createApi(client: Client, onSignedOut: () => void): Api {
  const base = String(client.getState('serverUrl') ?? fhirBaseUrl()).replace(/\/+$/, '');
  const call = async (method: string, path: string, body?: unknown, extra: Record<string, string> = {}, accept = 'application/fhir+json', root = base): Promise<Response> => {
    // Only a token about to run out waits for a refresh; otherwise the request leaves at once,
    // before the caller's own state updates render (an await here would let them go first).
    if (refreshDue(client)) {
      try {
        await client.refreshIfNeeded();
      } catch {
        // The refresh failed: the request below answers 401 when the token has run out.
      }
    }
    const headers: Record<string, string> = { Accept: accept, ...extra };
    const auth = client.getAuthorizationHeader();
    if (auth) headers.Authorization = auth;
    if (body !== undefined) headers['Content-Type'] = root === base ? 'application/fhir+json' : 'application/json';
    let res: Response;
    try {
      res = await fetch(`${root}/${path.replace(/^\//, '')}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    } catch {
      throw new ApiError(0, STATUS_TEXT[0], [], []);
    }
    if (!res.ok) {
      let outcome: OperationOutcome | undefined;
      try {
        const parsed = (await res.json()) as Resource;
        if (parsed?.resourceType === 'OperationOutcome') outcome = parsed as OperationOutcome;
      } catch {
        outcome = undefined;
      }
      const failure = describeFailure(res.status, outcome);
      if (res.status === 401) onSignedOut();
      throw new ApiError(res.status, failure.message, failure.details, failure.codes, outcome);
    }
    return res;
  };
  // return=minimal and 204 answers have no body.
  const json = async <T,>(res: Response): Promise<T> => {
    const text = await res.text();
    return (text ? JSON.parse(text) : undefined) as T;
  };
  return {
    get: async (path) => json(await call('GET', path)),
    post: async (path, body, headers) => json(await call('POST', path, body, headers)),
    create: async (type, body) => {
      const res = await call('POST', type, body, { Prefer: 'return=OperationOutcome' });
      const location = res.headers.get('Location') ?? res.headers.get('Content-Location') ?? '';
      const id = new RegExp(`/${type}/([A-Za-z0-9\\-.]{1,64})(/|$)`).exec(location)?.[1];
      return { id, outcome: await json<OperationOutcome | undefined>(res) };
    },
    put: async (path, body, headers) => json(await call('PUT', path, body, headers)),
    text: async (path, accept) => (await call('GET', path, undefined, {}, accept)).text(),
    admin: async (method, path, body) => json(await call(method, path, body, {}, 'application/json', `${new URL(base).origin}/auth/admin`)),
    signin: async (method, path, body) => json(await call(method, path, body, {}, 'application/json', `${new URL(base).origin}/auth`)),
  };
}
