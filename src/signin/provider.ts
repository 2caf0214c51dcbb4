// The OpenID Connect / OAuth 2 authorization server (oidc-provider, OpenID certified), configured
// for SMART App Launch 2: authorization code with PKCE S256 (required for every client), refresh
// tokens (offline_access, rotated: an unused refresh token expires after the idle timeout),
// revocation, introspection, OpenID Connect with the `fhirUser` claim, standalone launch with
// `launch/patient` (an extra "launch" prompt where the user picks a patient, interactions.ts) and
// EHR launch (`launch` scope + `launch` id from the clinic web app, ehr-launch.ts: the same prompt
// takes the patient from the launch instead).
// Access tokens are JWTs signed with the server's sign-in key (ES256), iss = PUBLIC_BASE_URL/auth,
// aud = the FHIR base, carrying fhirUser, organization (absent for public-health admins), patient
// and the scope narrowed to the user's role: the FHIR pipeline verifies them like any token.
import type { JWK } from 'jose';
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import { SUPPORTED_TYPES } from '../fhir/resource-types.js';
import { StoreUnavailableError } from '../store/store.js';
import type { Logger } from '../logger.js';
import type { TokenVerifier } from '../auth/verify-token.js';
import { GRANT_TYPES, smartUrls, TOKEN_ENDPOINT_AUTH_METHODS } from '../auth/smart-config.js';
import { decodeJwt } from 'jose';
import { CLIENT_ASSERTION_ALGORITHMS, clientMetadata, type AppClients, type AppClient } from './app-clients.js';
import type { ClientKeySets } from './client-keys.js';
import type { EhrLaunches } from './ehr-launch.js';
import { messagePage, esc, PAGE_HEADERS } from './pages.js';
import { adapterFactory, type StoredArtifacts } from './provider-adapter.js';
import { NON_RESOURCE_SCOPES, narrowScope } from './roles.js';
import { USERINFO_PATH } from './userinfo.js';
import { REGISTRATION_PATH } from './registration.js';
import { SMART_STYLE_PATH } from './smart-style.js';
import { fhirUserOf, type UserDirectory } from './users.js';
import { grantRef, type RevokedAccessTokens } from './revoked-tokens.js';

export const PROVIDER_ROUTES = {
  authorization: '/authorize',
  token: '/token',
  revocation: '/revoke',
  introspection: '/introspect',
  jwks: '/jwks',
  end_session: '/logout',
} as const;

const STORE_UNAVAILABLE = 'The data store is unavailable; try again shortly';
/** A client assertion (private_key_jwt) may expire at most this long from now (SMART App Launch 2). */
export const MAX_CLIENT_ASSERTION_LIFETIME_S = 300;
/** Clock skew allowed on client assertions' exp/iat/nbf (oidc-provider's check and ours). */
const ASSERTION_CLOCK_TOLERANCE_S = 5;

/** The patient chosen for a grant (standalone launch); kept as long as the grant. */
export const LAUNCH_MODEL = 'LaunchContext';

export interface ProviderOptions {
  publicBaseUrl: string;
  fhirBaseUrl: string;
  /** `PUBLIC_BASE_URL/auth`: also the `iss` the token verifier expects from our own tokens. */
  issuer: string;
  users: UserDirectory;
  clients: AppClients;
  /** Key sets of apps registered with a JWKS URL (private_key_jwt). */
  clientKeys: ClientKeySets;
  builtInClients: AppClient[];
  artifacts: StoredArtifacts;
  /** The sign-in private signing JWK (ES256, src/auth/server-key.ts). */
  signingJwk: JWK;
  cookieKeys: string[];
  /** Idle timeout: sessions and refresh tokens unused this long expire. */
  idleMinutes: number;
  /** Refresh token chains end after this long, used or not. */
  maxSessionHours: number;
  accessTokenMinutes: number;
  /** EHR launch ids (ehr-launch.ts). */
  launches: EhrLaunches;
  /** Verifies our JWT access tokens (src/auth/verify-token.ts), for introspection. */
  verifier: TokenVerifier;
  /** Access tokens revoked before their exp (revoked-tokens.ts): /auth/revoke adds to it. */
  revokedTokens: RevokedAccessTokens;
  logger: Logger;
}

/** Every user/ and patient/ resource scope (v1 and v2 spellings) the FHIR API understands. */
export function resourceScopes(): string[] {
  const v2: string[] = [];
  for (let mask = 1; mask < 32; mask++) v2.push([...'cruds'].filter((_, i) => mask & (1 << (4 - i))).join(''));
  const access = ['read', 'write', '*', ...v2];
  return ['patient', 'user'].flatMap((context) => ['*', ...SUPPORTED_TYPES].flatMap((type) => access.map((a) => `${context}/${type}.${a}`)));
}

export interface SigninProvider {
  provider: Provider;
  /** The patient chosen for a grant's standalone launch. */
  launchPatient(grantId: string | undefined): Promise<string | undefined>;
  setLaunchPatient(grantId: string, patient: string): Promise<void>;
}

export function createProvider(options: ProviderOptions): SigninProvider {
  const { users, fhirBaseUrl, artifacts } = options;
  const launchStore = artifacts.adapter(LAUNCH_MODEL);
  const launchPatient = async (grantId: string | undefined): Promise<string | undefined> => {
    if (!grantId) return undefined;
    const found = await launchStore.find(grantId);
    return found && typeof found.patient === 'string' ? found.patient : undefined;
  };
  const setLaunchPatient = async (grantId: string, patient: string): Promise<void> => {
    await launchStore.upsert(grantId, { patient }, options.maxSessionHours * 3600);
  };

  const policy = interactionPolicy.base();
  policy.add(
    new interactionPolicy.Prompt(
      { name: 'launch', requestable: false },
      new interactionPolicy.Check('launch_patient_missing', 'the app asks for a patient (launch/patient)', 'interaction_required', (ctx) => {
        const result = ctx.oidc.result as { launch?: { patient?: string } } | undefined;
        // patient/ scopes are granted only with a patient in context (SMART: the server provides the
        // patient launch context with them; it may infer launch/patient): without one the token was
        // useless, every FHIR request a 403 "patient/ scopes need a patient claim".
        const asked = ctx.oidc.requestParamScopes;
        const needsPatient = asked.has('launch/patient') || [...asked].some((scope) => scope.startsWith('patient/'));
        return (needsPatient || isEhrLaunch(ctx)) && !result?.launch?.patient
          ? interactionPolicy.Check.REQUEST_PROMPT
          : interactionPolicy.Check.NO_NEED_TO_PROMPT;
      })
    ),
    1
  );
  // Before anything else (no sign-in for nothing): a request none of whose scopes this server knows
  // (unknown types, malformed SMART permissions such as `.sr`, whose letters must keep the order of
  // `cruds`) could only end, after the user signed in, in an access_denied without a word; the app
  // is told which scopes it sent, as RFC 6749 §4.1.2.1's invalid_scope.
  const knownScopes = new Set<string>([...NON_RESOURCE_SCOPES, ...resourceScopes()]);
  policy.add(
    new interactionPolicy.Prompt(
      { name: 'scope', requestable: false },
      new interactionPolicy.Check('no_known_scope', 'none of the requested scopes is known', 'invalid_scope', (ctx) => {
        const requested = [...ctx.oidc.requestParamScopes];
        if (requested.some((scope) => knownScopes.has(scope))) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
        throw new errors.InvalidScope(
          `none of the requested scopes (${requested.join(' ') || 'none'}) is one this server grants: ask for openid, fhirUser, launch/patient, offline_access and user/ or patient/ scopes such as user/Immunization.rs (SMART v2 permissions keep the order of cruds) or user/Immunization.read (v1)`,
          requested.join(' ')
        );
      })
    ),
    // After the launch prompt was put after login (index 1): first of all.
    0
  );

  const idleSeconds = options.idleMinutes * 60;
  const maxSeconds = options.maxSessionHours * 3600;
  const rsScope = resourceScopes().join(' ');

  const configuration: Configuration = {
    adapter: adapterFactory(artifacts, options.clients, options.clientKeys),
    clients: options.builtInClients.map((client) => clientMetadata(client)),
    async findAccount(_ctx, id) {
      const user = await users.get(id);
      if (!user || !user.active) return undefined;
      return {
        accountId: id,
        async claims() {
          return {
            sub: id,
            fhirUser: `${fhirBaseUrl}/${fhirUserOf(user)}`,
            preferred_username: user.username,
            ...(user.name ? { name: user.name } : {}),
          };
        },
      };
    },
    claims: { openid: ['sub'], fhirUser: ['fhirUser'], profile: ['name', 'preferred_username'] },
    scopes: [...NON_RESOURCE_SCOPES],
    // SMART puts fhirUser in the id_token of a code flow.
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    pkce: { methods: ['S256'], required: () => true },
    clockTolerance: ASSERTION_CLOCK_TOLERANCE_S,
    // private_key_jwt (SMART client-confidential-asymmetric): oidc-provider checks the signature
    // with the app's registered keys, iss = sub = client_id, exp, a jti never seen (ReplayDetection:
    // a record of the store, provider-adapter.ts, so every server process on the same store sees
    // it) and an aud among its own URLs. We hold aud to this server: SMART's value, the token
    // endpoint URL, or the issuer identifier, which RFC 7523 allows and OAuth clients such as
    // openid-client send by default (both name this authorization server and nothing else); and
    // the assertion lives at most 5 minutes, as SMART asks.
    async assertJwtClientAuthClaimsAndHeader(ctx, claims) {
      // urlFor is OIDCContext's (not in its type declarations): the absolute URL of a route.
      const urlFor = (route: string) => (ctx.oidc as unknown as { urlFor(route: string): string }).urlFor(route);
      // urlFor builds on the request's Host; the app takes the endpoint from the discovery
      // documents, which name it at PUBLIC_BASE_URL (behind a proxy that rewrites Host they differ).
      const endpoint = urlFor(ctx.oidc.route);
      const tokenEndpoint = atIssuerOrigin(urlFor('token'), options.issuer);
      const issuer = ctx.oidc.provider.issuer;
      const accepted = new Set([issuer, tokenEndpoint, endpoint, urlFor('token'), atIssuerOrigin(endpoint, options.issuer)]);
      const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
      if (!audiences.some((aud) => typeof aud === 'string' && accepted.has(aud))) {
        throw new errors.InvalidClientAuth(`aud of the client assertion must be the token endpoint URL (${tokenEndpoint}) or the issuer (${issuer})`);
      }
      const now = Math.floor(Date.now() / 1000);
      if (typeof claims.exp !== 'number' || claims.exp > now + MAX_CLIENT_ASSERTION_LIFETIME_S + ASSERTION_CLOCK_TOLERANCE_S) {
        throw new errors.InvalidClientAuth(`the client assertion must expire within ${MAX_CLIENT_ASSERTION_LIFETIME_S} seconds`);
      }
    },
    routes: { ...PROVIDER_ROUTES },
    extraParams: {
      // SMART: the app names the FHIR server it wants a token for; anything else is refused.
      async aud(_ctx, value) {
        if (value !== undefined && value !== fhirBaseUrl && value !== `${fhirBaseUrl}/`) {
          throw new errors.InvalidRequest(`aud must be this server's FHIR base (${fhirBaseUrl})`);
        }
      },
      // EHR launch: the `launch` scope needs the id the clinic web app gave the app (ehr-launch.ts);
      // one that is unknown, expired, used or another app's is refused here, before any sign-in.
      // (It is taken, and checked against the signed-in user, in the launch step: interactions.ts.)
      async launch(ctx, value, client) {
        if (!ctx.oidc.requestParamScopes.has('launch')) return;
        if (typeof value !== 'string' || value === '') throw new errors.InvalidRequest('the launch scope needs the launch parameter given to the app by the EHR');
        if (!client || !(await options.launches.usableBy(value, client.clientId))) {
          throw new errors.InvalidRequest('launch is unknown, expired, already used or for another app: open the app again from the patient record');
        }
      },
    },
    features: {
      devInteractions: { enabled: false },
      introspection: { enabled: true },
      revocation: { enabled: true },
      // Every access token is for the FHIR API (aud = FHIR base); the id_token carries fhirUser.
      userinfo: { enabled: false },
      clientCredentials: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        async logoutSource(ctx, form) {
          ctx.type = 'html';
          ctx.set(PAGE_HEADERS);
          ctx.body = plainPage('Sign out', `<h1>Sign out</h1><p>Sign out of the Immunization Information System?</p>${form}<button type="submit" form="op.logoutForm" name="logout" value="yes">Sign out</button>`);
        },
        async postLogoutSuccessSource(ctx) {
          ctx.type = 'html';
          ctx.set(PAGE_HEADERS);
          ctx.body = plainPage('Signed out', '<h1>Signed out</h1><p>You are signed out.</p>');
        },
      },
      resourceIndicators: {
        enabled: true,
        // SMART apps send `aud`, not `resource`: every token is for the FHIR base.
        defaultResource: () => fhirBaseUrl,
        useGrantedResource: () => true,
        async getResourceServerInfo(_ctx, indicator) {
          if (indicator !== fhirBaseUrl) throw new errors.InvalidTarget(`The only resource is ${fhirBaseUrl}`);
          return {
            scope: rsScope,
            audience: fhirBaseUrl,
            accessTokenTTL: options.accessTokenMinutes * 60,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'ES256' } },
          };
        },
      },
    },
    async extraTokenClaims(ctx, token) {
      const accountId = (token as { accountId?: string }).accountId;
      if (!accountId) return undefined;
      const user = await users.get(accountId);
      if (!user) return undefined;
      // The token never carries more than the user's role allows (roles.ts).
      const scoped = token as { scope?: string };
      if (scoped.scope) scoped.scope = narrowScope(user.role, scoped.scope);
      const grantId = (token as { grantId?: string }).grantId;
      const patient = await launchPatient(grantId);
      return {
        // Ending the grant (a revoked refresh token, a sign-out) ends its access tokens by this
        // (revoked-tokens.ts); a hash, not the grant id, which the store keeps hashed too.
        ...(grantId ? { grant_ref: grantRef(grantId) } : {}),
        fhirUser: `${fhirBaseUrl}/${fhirUserOf(user)}`,
        ...(user.organization ? { organization: user.organization } : {}),
        // The FHIR endpoint confines a reports user to reminder/recall and coverage by it.
        role: user.role,
        ...(patient ? { patient } : {}),
      };
    },
    formats: {
      customizers: {
        async jwt(ctx, token, jwt) {
          // extraTokenClaims narrowed token.scope after the payload was assembled. The OpenID
          // scopes granted (openid, fhirUser, profile…) are named too, as in the token response:
          // the userinfo endpoint (userinfo.ts) reads them from the token apps really hold.
          const scope = (token as { scope?: string }).scope;
          if (scope !== undefined) jwt.payload.scope = [grantedOpenIdScope(ctx), scope].filter(Boolean).join(' ');
          return jwt;
        },
      },
    },
    interactions: {
      policy,
      url: (_ctx, interaction) => `${new URL(options.issuer).pathname}/interaction/${interaction.uid}`,
    },
    // SMART: offline_access asks for a refresh token that outlives the sign-in; online_access for one
    // usable "as long as the end-user remains online". A code without offline_access is bound to
    // the user's session (oidc-provider's expiresWithSession), and so is its refresh token and each
    // rotation of it: once the session ends (Sign out, the idle timeout) it is refused.
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && (code.scopes.has('offline_access') || code.scopes.has('online_access')),
    // Every use of a refresh token replaces it with one valid for the idle timeout again.
    rotateRefreshToken: () => true,
    ttl: {
      AccessToken: options.accessTokenMinutes * 60,
      AuthorizationCode: 60,
      IdToken: options.accessTokenMinutes * 60,
      Interaction: 30 * 60,
      Session: idleSeconds,
      Grant: maxSeconds,
      RefreshToken(_ctx, token) {
        const used = (token as { totalLifetime?: () => number }).totalLifetime?.() ?? 0;
        return Math.max(1, Math.min(idleSeconds, maxSeconds - used));
      },
    },
    jwks: { keys: [options.signingJwk as never] },
    enabledJWA: { idTokenSigningAlgValues: ['ES256'], userinfoSigningAlgValues: ['ES256'], clientAuthSigningAlgValues: [...CLIENT_ASSERTION_ALGORITHMS] as never },
    clientDefaults: { id_token_signed_response_alg: 'ES256', grant_types: ['authorization_code', 'refresh_token'], response_types: ['code'] },
    cookies: { keys: options.cookieKeys, long: { httpOnly: true, sameSite: 'lax' }, short: { httpOnly: true, sameSite: 'lax' } },
    clientBasedCORS: () => true,
    async renderError(ctx, out, err) {
      ctx.type = 'html';
      ctx.set(PAGE_HEADERS);
      if (err instanceof StoreUnavailableError) {
        ctx.status = 503;
        ctx.set('Retry-After', '5');
        ctx.body = plainPage('Sign-in unavailable', `<h1>Sign-in unavailable</h1><p>${esc(STORE_UNAVAILABLE)}.</p>`);
        return;
      }
      const text = [out.error, out.error_description].filter(Boolean).join(': ');
      const { body } = messagePage('Sign-in problem', text || 'The request could not be completed.');
      ctx.body = plainPage('Sign-in problem', body);
    },
  };

  const provider = new Provider(options.issuer, configuration);
  // Confidential apps' secrets are stored as scrypt hashes (app-clients.ts): the client's
  // `client_secret` holds the hash and the presented secret is checked against it here. Replacing
  // Client#compareClientSecret is oidc-provider's supported way (its maintainer, discussion #1410;
  // the method is public API); it rules out client_secret_jwt and HS* algorithms, none enabled.
  const clientPrototype = provider.Client.prototype as unknown as { compareClientSecret(actual: unknown): Promise<boolean>; clientId: string; clientSecret: string };
  clientPrototype.compareClientSecret = async function compareClientSecret(this: typeof clientPrototype, actual: unknown) {
    return options.clients.secretMatches(this.clientId, this.clientSecret, actual);
  };
  if (options.publicBaseUrl.startsWith('https:')) provider.proxy = true;
  // oidc-provider accepts a client assertion whose aud is the issuer or the endpoint's URL as built
  // from the request's Host; the discovery documents name the endpoints at PUBLIC_BASE_URL, so an
  // app reaching the server through a proxy that rewrites Host signs for that URL: accept it too.
  const contextPrototype = provider.OIDCContext.prototype as unknown as { clientJwtAuthExpectedAudience(this: unknown): Set<string> };
  const hostAudiences = contextPrototype.clientJwtAuthExpectedAudience;
  contextPrototype.clientJwtAuthExpectedAudience = function publicAudiences(this: unknown): Set<string> {
    const audiences = hostAudiences.call(this);
    for (const aud of [...audiences]) if (aud !== options.issuer) audiences.add(atIssuerOrigin(aud, options.issuer));
    return audiences;
  };

  provider.use(async (ctx, next) => {
    await next();
    // oidc-provider's own HTML (the auto-submitting form_post and logout pages, inline script
    // included) is never shown in another site's frame either.
    if (ctx.response.is('html') && !ctx.response.get('Content-Security-Policy')) {
      ctx.set('Content-Security-Policy', "frame-ancestors 'none'; base-uri 'none'; object-src 'none'");
      ctx.set('X-Frame-Options', 'DENY');
    }
    const oidc = (ctx as KoaContextWithOIDC).oidc;
    if (!oidc) return;
    // RFC 6749 §5.1: responses with tokens (and, §5.2, their errors) carry Pragma: no-cache next to
    // Cache-Control: no-store, as the backend-services answers of src/auth do; oidc-provider 8 sends
    // only the latter.
    if (oidc.route === 'token') ctx.set('Pragma', 'no-cache');
    // SMART: the token response names the launched patient.
    if (oidc.route === 'token' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      const body = ctx.body as Record<string, unknown>;
      const source = oidc.entities.AuthorizationCode ?? oidc.entities.RefreshToken;
      const patient = await launchPatient(source?.grantId);
      if (patient) {
        body.patient = patient;
        // SMART 2: whether the app must show which patient it is working on. It always must here:
        // a standalone launch has no EHR around it, and the clinic web app opens a launched app in
        // its own page (location.assign), not inside the record that shows the patient.
        body.need_patient_banner = true;
      }
      // SMART App Launch 2: where the app finds the host's style (the clinic web app's, smart-style.ts).
      body.smart_style_url = `${options.issuer}${SMART_STYLE_PATH}`;
      // The response's scope names the OpenID scopes granted too (openid, fhirUser, launch/patient,
      // offline_access), not only the FHIR ones the access token carries.
      if (source?.scope && oidc.entities.Grant && typeof body.scope === 'string') {
        const openid = oidc.entities.Grant.getOIDCScopeFiltered(new Set(source.scope.split(' ')));
        body.scope = [...new Set([...openid.split(' '), ...body.scope.split(' ')].filter(Boolean))].join(' ');
      }
    }
    // Our own userinfo endpoint (userinfo.ts) answers for the JWT access tokens.
    if (oidc.route === 'discovery' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      const discovery = ctx.body as Record<string, unknown>;
      // oidc-provider writes its endpoints from the request's Host: behind a proxy that rewrites
      // it (or any request naming another host) the document sent apps to an internal address.
      // Every absolute URL the server writes is PUBLIC_BASE_URL's (CONTRACT.md "Running it"), as
      // the issuer and the SMART configuration already were.
      for (const [field, value] of Object.entries(discovery)) {
        if (field.endsWith('_endpoint') && typeof value === 'string') discovery[field] = atIssuerOrigin(value, options.issuer);
      }
      discovery.userinfo_endpoint = `${options.issuer}${USERINFO_PATH}`;
      // Dynamic registration is ours too (registration.ts: initial access token required).
      discovery.registration_endpoint = `${options.issuer}${REGISTRATION_PATH}`;
      // The same authorization server as /.well-known/smart-configuration describes, so the two
      // documents agree: the key set that also holds the backend-services key (the sign-in key,
      // which signs id_tokens, is in both sets), and the one token endpoint's grants and client
      // authentication methods (client_credentials is answered there by src/auth).
      discovery.jwks_uri = smartUrls(options.publicBaseUrl).jwksUri;
      discovery.grant_types_supported = [...GRANT_TYPES];
      discovery.token_endpoint_auth_methods_supported = [...TOKEN_ENDPOINT_AUTH_METHODS];
    }
    if (oidc.route === 'revocation' && ctx.status === 200 && oidc.client) {
      // oidc-provider answers 200 for a token it does not know (RFC 7009 §2.2), and our access
      // tokens are JWTs it never stores: one that is live and ours is revoked here (refused from
      // now on, revoked-tokens.ts), if it was issued to the app asking, as oidc-provider
      // requires of its own tokens.
      const token = typeof oidc.params?.token === 'string' ? oidc.params.token : '';
      if (token.split('.').length === 3) await revokeJwt(ctx, token, oidc.client.clientId);
    }
    if (oidc.route === 'introspection' && ctx.body && typeof ctx.body === 'object') {
      const body = ctx.body as Record<string, unknown>;
      const token = typeof oidc.params?.token === 'string' ? oidc.params.token : '';
      if (!body.active && token.split('.').length === 3 && oidc.client) {
        // Access tokens are self-contained JWTs that oidc-provider does not keep: introspect them by
        // verifying them like the FHIR endpoint does (only for the client they were issued to).
        Object.assign(body, await introspectJwt(token, oidc.client.clientId));
      } else if (body.active && typeof body.sub === 'string' && typeof body.scope === 'string') {
        // What the token really allows (narrowed to the role).
        const user = await users.get(body.sub);
        if (user) body.scope = narrowScope(user.role, body.scope);
      }
    }
  });

  async function revokeJwt(ctx: { status: number; body: unknown; set(field: string, value: string): void }, token: string, clientId: string): Promise<void> {
    let claims: ReturnType<typeof decodeJwt>;
    try {
      const caller = await options.verifier.verify(`Bearer ${token}`);
      if (caller.issuer !== options.issuer) return;
      claims = decodeJwt(token);
    } catch {
      // Not a live token of ours (expired, revoked, foreign, malformed): nothing to revoke (§2.2).
      return;
    }
    if (claims.client_id !== clientId) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'this token does not belong to you' };
      return;
    }
    if (typeof claims.jti !== 'string' || typeof claims.exp !== 'number') return;
    try {
      await options.revokedTokens.revokeToken(claims.jti, claims.exp);
    } catch (err) {
      if (!(err instanceof StoreUnavailableError)) throw err;
      // Refused by this process already; the app must ask again for the others to learn it.
      options.logger.warn('authorization server: the store is unavailable', { error: err.message });
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      ctx.body = { error: 'temporarily_unavailable', error_description: STORE_UNAVAILABLE };
    }
  }

  async function introspectJwt(token: string, clientId: string): Promise<Record<string, unknown>> {
    try {
      const caller = await options.verifier.verify(`Bearer ${token}`);
      const claims = decodeJwt(token);
      if (caller.issuer !== options.issuer || claims.client_id !== clientId) return { active: false };
      const picked = ['scope', 'client_id', 'sub', 'exp', 'iat', 'iss', 'aud', 'jti', 'fhirUser', 'organization', 'patient'];
      return { active: true, token_type: 'Bearer', ...Object.fromEntries(picked.filter((k) => claims[k] !== undefined).map((k) => [k, claims[k]])) };
    } catch {
      return { active: false };
    }
  }

  provider.on('server_error', (ctx: KoaContextWithOIDC, err: Error) => {
    if (err instanceof StoreUnavailableError) {
      // Sessions, codes, tokens and users are in the store: when it does not answer, the client
      // is told to come back (503, like the FHIR API), not that the server broke. The listener runs
      // inside oidc-provider's error handler, after it set the answer and before it is sent.
      // (An HTML answer is rendered by renderError, which oidc-provider may call after this.)
      options.logger.warn('authorization server: the store is unavailable', { error: err.message });
      ctx.status = 503;
      ctx.set('Retry-After', '5');
      if (ctx.body && typeof ctx.body === 'object') ctx.body = { error: 'temporarily_unavailable', error_description: STORE_UNAVAILABLE };
      return;
    }
    options.logger.error('authorization server error', { error: err.stack ?? err.message });
  });
  return { provider, launchPatient, setLaunchPatient };
}

/** An EHR launch: the `launch` scope with the id the EHR gave the app. */
export function isEhrLaunch(ctx: KoaContextWithOIDC): boolean {
  return ctx.oidc.requestParamScopes.has('launch') && typeof ctx.oidc.params?.launch === 'string' && ctx.oidc.params.launch !== '';
}

/** The OpenID scopes (openid, fhirUser, profile, offline_access…) granted with the code or refresh token being exchanged. */
function grantedOpenIdScope(ctx: KoaContextWithOIDC): string {
  const source = ctx.oidc?.entities.AuthorizationCode ?? ctx.oidc?.entities.RefreshToken;
  const grant = ctx.oidc?.entities.Grant;
  if (!source?.scope || !grant) return '';
  return grant.getOIDCScopeFiltered(new Set(source.scope.split(' ')));
}

function plainPage(title: string, body: string): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>${esc(title)}</title></head><body><main>${body}</main></body></html>`;
}

/** The same path and query at the issuer's origin (scheme, host and port of PUBLIC_BASE_URL). */
function atIssuerOrigin(url: string, issuer: string): string {
  const parsed = new URL(url);
  return `${new URL(issuer).origin}${parsed.pathname}${parsed.search}`;
}
