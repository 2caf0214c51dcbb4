// Sign-in for people (CONTRACT.md "Users, facilities and sign-in"): wires the user directory, the
// registered apps, the authorization server (oidc-provider) and its pages, account administration
// and the audit of all of it. A front door (src/app/front-doors.ts): users and apps are its own
// records in the system store; patient data is only ever reached through pipeline.executeAs.
//
// Routes (all outside /fhir, served without a FHIR token):
//   /auth/authorize, /auth/token (codes and refresh tokens; client_credentials stays with the
//   backend-services endpoint), /auth/revoke, /auth/introspect, /auth/logout,
//   /auth/.well-known/openid-configuration, /auth/interaction/<uid>… (sign-in pages),
//   /auth/userinfo (OpenID Connect UserInfo for our JWT access tokens),
//   /auth/launch, /auth/launch/apps (EHR launch ids for the clinic web app, bearer token),
//   /auth/register (dynamic client registration, RFC 7591, with an initial access token),
//   /auth/admin/… (account administration, bearer token).
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Caller } from '../auth/caller.js';
import { loadServerKey } from '../auth/server-key.js';
import { tokenIssuer } from '../auth/smart-config.js';
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { FrontDoorServices } from '../pipeline/front-door.js';
import { StoreUnavailableError, type Store } from '../store/store.js';
import { adminRouter } from './admin.js';
import { AppClients, asksConsent, webAppClient } from './app-clients.js';
import { APP_FAILURES_COUNTED, checkAppCredentials, type AppSignInResult } from './app-credentials.js';
import { ClientKeySets } from './client-keys.js';
import { buildSecurityEvent, type AdminEvent, type AuditSink, type SignInEvent } from './audit.js';
import { interactionRouter } from './interactions.js';
import { callerForUser, PatientLookup } from './patient-lookup.js';
import { createProvider, type SigninProvider } from './provider.js';
import { ARTIFACTS_NAMESPACE, StoredArtifacts } from './provider-adapter.js';
import { EhrLaunches, ehrLaunchRouter } from './ehr-launch.js';
import { COMMON_PASSWORD_WARNING, isCommonPassword } from './passwords.js';
import { narrowScope, type Role } from './roles.js';
import { userinfoRouter } from './userinfo.js';
import { smartStyleRouter } from './smart-style.js';
import { RegistrationTokens, registrationRouter } from './registration.js';
import { DEFAULT_REVOCATION_POLL_SECONDS, DisabledUsers } from './revocations.js';
import { RevokedAccessTokens } from './revoked-tokens.js';
import { ADDRESS_COUNTED, failedSignInsFor } from './address-throttle.js';

/** Where the sign-in server is served on this process (a proxy may add a path in front: PUBLIC_BASE_URL's). */
const SIGNIN_ROOT = '/auth';
import { fhirUserOf, UserDirectory, type DirectoryOptions } from './users.js';

export { WEB_APP_CLIENT_ID } from './app-clients.js';
export { callerForUser } from './patient-lookup.js';
export { UserDirectory } from './users.js';

/** A person who proved a username and password (SOAP credentials, hl7v2). */
export interface Principal {
  userId: string;
  username: string;
  role: Role;
  /** `Organization/<id>`; absent for public-health administrators. */
  organization?: string;
  /** `Practitioner/<id>`. */
  fhirUser: string;
  /** The pipeline caller for this person: user/ scopes of the role, the facility as organization. */
  caller: Caller;
}

export interface CredentialCheck {
  /** Where the credentials came from, for the audit trail (e.g. `soap`). */
  via?: string;
  /** Remote address, for the audit trail. */
  address?: string;
  /** One-time code, when the user has a second factor. */
  totp?: string;
}

export interface Signin {
  /** Mount before the backend-services auth router (it takes /auth/token requests that are not client_credentials). */
  router: express.Router;
  users: UserDirectory;
  clients: AppClients;
  provider: SigninProvider;
  /**
   * Checks a username and password (lockout, disabled accounts, suspended facilities and TOTP
   * apply; every attempt is audited) and returns the person, or undefined.
   */
  checkCredentials(username: string, password: string, options?: CredentialCheck): Promise<Principal | undefined>;
  close(): void;
}

export interface SigninOptions {
  /** scrypt parameters (tests use cheaper ones). */
  hashParams?: { N: number; r: number; p: number };
  /** How often the disabled users are read again (other processes' changes; revocations.ts). */
  revocationPollSeconds?: number;
}

const COOKIE_KEYS_FILE = 'signin-cookie-keys';
const DEFAULT_LOCKOUT_ATTEMPTS = 5;
const DEFAULT_LOCKOUT_MINUTES = 15;

/** The sign-in front door (src/app/front-doors.ts). */
export async function signinFrontDoor(services: FrontDoorServices): Promise<express.Router> {
  const signin = await createSignin(services);
  services.onClose(async () => signin.close());
  return signin.router;
}

export async function createSignin(services: FrontDoorServices, options: SigninOptions = {}): Promise<Signin> {
  const { config, logger } = services;
  const issuer = tokenIssuer(config.publicBaseUrl);
  const store = services.systemStore;
  const settings = {
    idleMinutes: config.signin?.idleMinutes ?? 15,
    maxSessionHours: config.signin?.maxSessionHours ?? 12,
    lockoutMinutes: config.signin?.lockoutMinutes ?? DEFAULT_LOCKOUT_MINUTES,
    accessTokenMinutes: config.signin?.accessTokenMinutes ?? 15,
  };
  const sink: AuditSink = (event) => services.audit.recordEvent(event);
  const auditSignIn = (event: Omit<SignInEvent, 'kind'>) => sink(buildSecurityEvent({ kind: 'signin', ...event }, services.baseUrl));
  const auditAdmin = (event: Omit<AdminEvent, 'kind'>) => sink(buildSecurityEvent({ kind: 'admin', ...event }, services.baseUrl));

  // Tokens of people disabled since they were issued stop working at the next request (this
  // process's changes) or within DEFAULT_REVOCATION_POLL_SECONDS (other processes'): revocations.ts.
  let disabledUsers: DisabledUsers | undefined;
  const users = userDirectoryFor(store, config, { ...options, onChange: (user) => disabledUsers?.noteUser(user) });
  disabledUsers = new DisabledUsers(users, issuer, settings.accessTokenMinutes * 60, logger);
  await disabledUsers.refresh();
  disabledUsers.start(options.revocationPollSeconds);
  services.verifier.useRevocations?.(disabledUsers);
  await bootstrapAdmin(users, config, logger, auditAdmin);

  const builtIn = [webAppClient(config.publicBaseUrl)];
  const clients = new AppClients(store, builtIn, options.hashParams);
  // Apps registered before secrets were hashed: their clear secrets are replaced by hashes now.
  const rehashed = await clients.hashLegacySecrets();
  if (rehashed.length > 0) logger.info('stored the hashes of registered apps\' secrets instead of the secrets', { clients: rehashed });
  // The sign-in key (ES256, DATA_DIR/auth-signin-key.json), created by src/auth/setup.ts, which
  // publishes it at /auth/jwks.json and lets the FHIR endpoint verify its tokens.
  const { key: signingKey } = await loadServerKey(config.dataDir, 'signin');
  // Sessions, codes, grants and refresh tokens: short-lived records of the store (provider-adapter.ts).
  // Access tokens revoked before their exp (RFC 7009: by the app at /auth/revoke, or with their
  // grant: a revoked refresh token, a sign-out) are refused at the FHIR endpoint at once here and
  // within the poll interval on other processes (revoked-tokens.ts).
  const revokedTokens = new RevokedAccessTokens(store.expiringRecords(ARTIFACTS_NAMESPACE), issuer, settings.accessTokenMinutes * 60, logger);
  await revokedTokens.refresh();
  revokedTokens.start(options.revocationPollSeconds ?? DEFAULT_REVOCATION_POLL_SECONDS);
  services.verifier.useRevocations?.(revokedTokens);
  const artifacts = new StoredArtifacts(store, logger, undefined, (grantId) => revokedTokens.revokeGrant(grantId));
  // EHR launch ids: short-lived records beside the provider's artifacts (swept with them).
  const launches = new EhrLaunches(store.expiringRecords(ARTIFACTS_NAMESPACE));
  const patients = new PatientLookup(services.pipeline, issuer);
  // Apps registered with a JWKS URL: their keys, fetched and cached by the server (client-keys.ts).
  const clientKeys = new ClientKeySets(clients);
  const provider = createProvider({
    publicBaseUrl: config.publicBaseUrl,
    fhirBaseUrl: services.baseUrl,
    issuer,
    users,
    clients,
    clientKeys,
    builtInClients: builtIn,
    artifacts,
    signingJwk: signingKey.privateJwk,
    cookieKeys: loadCookieKeys(config.dataDir),
    idleMinutes: settings.idleMinutes,
    maxSessionHours: settings.maxSessionHours,
    accessTokenMinutes: settings.accessTokenMinutes,
    verifier: services.verifier,
    revokedTokens,
    launches,
    logger,
  });
  // Every code exchange and refresh at /auth/token, issued or refused, is an AuditEvent (IHE BALP
  // IHE.IUA.71 Get Access Token); only the sign-in itself was audited, so an app refreshing a
  // nurse's token for days left no trace of it.
  provider.provider.on('grant.success', (ctx: KoaContextWithOIDC) => {
    const { params, client, entities } = ctx.oidc;
    const token = entities.AccessToken as { scope?: string; accountId?: string } | undefined;
    const userId = (entities.Account as { accountId?: string } | undefined)?.accountId ?? token?.accountId;
    sink(buildSecurityEvent({ kind: 'token', grantType: String(params?.grant_type ?? ''), clientId: client?.clientId, ...(userId ? { userId } : {}), ...(token?.scope ? { scope: token.scope } : {}), address: ctx.ip, result: 'success' }, services.baseUrl));
  });
  provider.provider.on('grant.error', (ctx: KoaContextWithOIDC, err: { error?: string; error_description?: string; message?: string }) => {
    const { params, client } = ctx.oidc;
    const claimed = typeof params?.client_id === 'string' ? params.client_id : undefined;
    sink(
      buildSecurityEvent(
        { kind: 'token', grantType: String(params?.grant_type ?? ''), clientId: client?.clientId ?? claimed, address: ctx.ip, result: err.error ?? 'server_error', description: err.error_description ?? err.message },
        services.baseUrl
      )
    );
  });
  const basePath = new URL(issuer).pathname.replace(/\/$/, '');
  const callback = provider.provider.callback();
  const mounted = express.Router();
  mounted.use(basePath, (req, res) => {
    callback(req, res);
  });

  const router = express.Router();
  if (basePath !== SIGNIN_ROOT) {
    // PUBLIC_BASE_URL has a path (https://iis.example.org/registry): the sign-in server's routes,
    // its pages' links and its discovery documents name it under that path (the issuer's), while
    // a proxy that serves the registry there strips the path off, as it does for /fhir, /soap and
    // /app, which are served at the root. Requests at /auth/… are taken as the issuer's path, so
    // both the stripped and the unstripped address reach it (before, only the unstripped one did,
    // and /fhir only the stripped one: no proxy served both).
    // The operators' admin API (admin.ts) is served at /auth/admin itself.
    router.use((req, _res, next) => {
      const atRoot = req.url === SIGNIN_ROOT || req.url.startsWith(`${SIGNIN_ROOT}/`) || req.url.startsWith(`${SIGNIN_ROOT}?`);
      if (atRoot && !req.url.startsWith(`${SIGNIN_ROOT}/admin/`)) {
        req.url = `${basePath}${req.url.slice(SIGNIN_ROOT.length)}`;
        req.originalUrl = req.url;
      }
      next();
    });
  }
  if (config.publicBaseUrl.startsWith('https:')) {
    // The public address is https, so every request reached the sign-in server over https (through
    // a TLS-terminating proxy; provider.proxy is set). oidc-provider marks its cookies Secure and
    // writes https URLs only when X-Forwarded-Proto says https: a proxy that does not send it got
    // session and interaction cookies without Secure (sent again over any plain-http request) and
    // an http form action on the Sign out page.
    router.use(basePath, (req, _res, next) => {
      req.headers['x-forwarded-proto'] = 'https';
      next();
    });
  }
  // /auth/token: the backend-services endpoint (src/auth/router.ts, mounted before the front doors)
  // answers client_credentials and passes authorization_code and refresh_token requests on to
  // here, with the body already read (req.body, the form as text). oidc-provider takes req.body
  // then, and says once on the console that it found an already parsed body: expected here.
  // A request with a client assertion (private_key_jwt) of an app registered with a JWKS URL: its
  // keys are loaded first (client-keys.ts); a set that cannot be fetched is invalid_client (401).
  router.post(`${basePath}/token`, (req: Request, res: Response, next: NextFunction) => {
    const assertion = typeof req.body === 'string' ? new URLSearchParams(req.body).get('client_assertion') : null;
    if (!assertion) {
      mounted(req, res, next);
      return;
    }
    clientKeys.prepare(assertion).then((refusal) => {
      if (refusal === undefined) {
        mounted(req, res, next);
        return;
      }
      logger.warn('token request refused', { requestId: res.locals.requestId, error: 'invalid_client', description: refusal });
      res.setHeader('Cache-Control', 'no-store');
      res.status(401).json({ error: 'invalid_client', error_description: refusal });
    }, (err: unknown) => {
      if (!(err instanceof StoreUnavailableError)) return next(err);
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Retry-After', '5');
      res.status(503).json({ error: 'temporarily_unavailable', error_description: 'The data store is unavailable; try again shortly' });
    });
  });
  router.use(
    interactionRouter({
      provider: provider.provider,
      users,
      clients,
      patients,
      setLaunchPatient: provider.setLaunchPatient,
      launches,
      auditSignIn,
      consentWithSignIn: async (clientId) => !asksConsent(await clients.get(clientId)),
      resourceIndicator: services.baseUrl,
      basePath,
      lockoutMinutes: settings.lockoutMinutes,
      addressThrottle: failedSignInsFor(store, { attempts: config.signin?.addressAttempts, windowMinutes: config.signin?.addressWindowMinutes }),
    })
  );
  // OpenID Connect honours offline_access only with prompt=consent; SMART apps ask for it without a
  // prompt. Such a request is sent back with prompt=consent added (apps that are not first-party
  // see the consent screen on every sign-in anyway; the web app's consent is implicit).
  router.get(`${basePath}/authorize`, (req, res, next) => {
    const query = new URLSearchParams(req.originalUrl.split('?')[1] ?? '');
    if (!query.has('prompt') && !query.has('request') && !query.has('request_uri') && (query.get('scope') ?? '').split(' ').includes('offline_access')) {
      query.set('prompt', 'consent');
      res.redirect(303, `${basePath}/authorize?${query.toString()}`);
      return;
    }
    next();
  });
  router.use(smartStyleRouter(basePath));
  router.use(userinfoRouter({ users, verifier: services.verifier, issuer, fhirBaseUrl: services.baseUrl, basePath }));
  router.use(ehrLaunchRouter({ users, clients, verifier: services.verifier, patients, launches, issuer, fhirBaseUrl: services.baseUrl, basePath }));
  // Dynamic client registration (RFC 7591) with single-use initial access tokens issued by public
  // health (registration.ts); the tokens are short-lived records beside the provider's artifacts.
  const registrationTokens = new RegistrationTokens(store.expiringRecords(ARTIFACTS_NAMESPACE));
  router.use(registrationRouter({ tokens: registrationTokens, clients, revokedTokens, basePath, issuer, auditAdmin }));
  router.use(adminRouter({ users, clients, registrationTokens, revokedTokens, verifier: services.verifier, issuer, auditAdmin, totpIssuer: 'IIS' }));
  // Everything else under /auth that the backend-services router does not answer (token, jwks.json).
  const providerPaths = Object.values({ authorize: '/authorize', revoke: '/revoke', introspect: '/introspect', logout: '/logout', jwks: '/jwks', wellKnown: '/.well-known' });
  router.use(basePath, (req, res, next) => {
    if (providerPaths.some((p) => req.path === p || req.path.startsWith(`${p}/`))) {
      req.url = req.originalUrl;
      mounted(req, res, next);
      return;
    }
    next();
  });

  const checkCredentials = credentialChecker(services, users);

  return { router, users, clients, provider, checkCredentials, close: () => {
    artifacts.close();
    disabledUsers?.stop();
    revokedTokens.stop();
  } };
}

/** The user directory with the configured lockout and the facilities' enrollment status. */
export function userDirectoryFor(store: Store, config: Config, options: SigninOptions & Pick<DirectoryOptions, 'onChange'> = {}): UserDirectory {
  return new UserDirectory(store, {
    onChange: options.onChange,
    lockoutAttempts: config.signin?.lockoutAttempts ?? DEFAULT_LOCKOUT_ATTEMPTS,
    lockoutMinutes: config.signin?.lockoutMinutes ?? DEFAULT_LOCKOUT_MINUTES,
    hashParams: options.hashParams,
    facilityActive: async (organization) => {
      // A facility's enrollment: Organization.active false = suspended. An unknown facility is
      // not refused (users may be created before their Organization is).
      const record = await store.read('Organization', organization.slice('Organization/'.length));
      return !(record?.resource && (record.resource as { active?: boolean }).active === false) && !record?.deleted;
    },
  });
}

/**
 * Username/password checking for other front doors (SOAP credentials in src/hl7v2): build it once
 * from the front door's services, then `await check(username, password, { via: 'soap', address })`
 * gives the Principal (whose `caller` goes to pipeline.executeAs) or undefined. Lockout, disabled
 * accounts, suspended facilities and TOTP apply, and the failures per client address of the sign-in
 * form (address-throttle.ts; the same count, one per address and store): an address past its limit is refused
 * without a password check. Every attempt is audited.
 */
export function credentialChecker(
  services: Pick<FrontDoorServices, 'systemStore' | 'audit' | 'baseUrl' | 'config'>,
  users: UserDirectory = userDirectoryFor(services.systemStore, services.config)
): Signin['checkCredentials'] {
  const check = signInChecker(services, users);
  return async (username, password, options = {}) => {
    const checked = await check(username, password, options);
    return 'principal' in checked ? checked.principal : undefined;
  };
}

/** Who SOAP credentials act as (a user's or a registered app's caller), or why they were refused (the SecurityFault's words). */
export type SubmitterCheck = { caller: Caller } | { refused: string };

/**
 * SOAP's `username` / `password` (src/hl7v2): a registered user's, as `credentialChecker` checks
 * them, or — when the username names no user — a confidential app's client id and secret, acting
 * for the Organization `facility` (facilityID's id) with the facility clinicians' scopes
 * (app-credentials.ts). Both share the per-address count of failed sign-ins and the audit.
 */
export function submitterChecker(
  services: Pick<FrontDoorServices, 'systemStore' | 'audit' | 'baseUrl' | 'config'>,
  clients: AppClients = new AppClients(services.systemStore, [webAppClient(services.config.publicBaseUrl)])
): (username: string, password: string, check: CredentialCheck & { facility: string }) => Promise<SubmitterCheck> {
  const check = signInChecker(services, userDirectoryFor(services.systemStore, services.config), clients);
  return async (username, password, options) => {
    const checked = await check(username, password, options);
    if ('principal' in checked) return { caller: checked.principal.caller };
    if ('app' in checked) return { caller: checked.app };
    return { refused: checked.refused ?? USER_REFUSED };
  };
}

const USER_REFUSED = 'The username or password is not valid (or the account is locked, disabled or its facility suspended)';

type Checked = { principal: Principal } | { app: Caller } | { refused?: string };

/** The one check behind both: throttle, the user (then, given `clients` and a facility, the app), audit. */
function signInChecker(
  services: Pick<FrontDoorServices, 'systemStore' | 'audit' | 'baseUrl' | 'config'>,
  users: UserDirectory,
  clients?: AppClients
): (username: string, password: string, check: CredentialCheck & { facility?: string }) => Promise<Checked> {
  const issuer = tokenIssuer(services.config.publicBaseUrl);
  // The sign-in form's count (one per address for every door checking passwords: address-throttle.ts).
  const throttle = failedSignInsFor(services.systemStore, { attempts: services.config.signin?.addressAttempts, windowMinutes: services.config.signin?.addressWindowMinutes });
  const audit = (event: Omit<SignInEvent, 'kind'>) => services.audit.recordEvent(buildSecurityEvent({ kind: 'signin', ...event }, services.baseUrl));
  return async (username, password, check = {}) => {
    const name = String(username ?? '').trim().toLowerCase().slice(0, 256);
    const attempt = check.address ? await throttle.begin(check.address) : undefined;
    if (attempt && 'retryAfterSeconds' in attempt) {
      audit({ username: name, clientId: check.via, address: check.address, result: 'address-throttled' });
      return {};
    }
    let result: Awaited<ReturnType<UserDirectory['authenticate']>>;
    let app: AppSignInResult | undefined;
    try {
      result = await users.authenticate(username, password, check.totp);
      // A username that names no user may be a registered app's client id (SOAP, with a facility).
      if (!result.ok && !result.user && result.reason === 'invalid-credentials' && clients && check.facility !== undefined && typeof username === 'string') {
        app = await checkAppCredentials(clients, services.systemStore, username.trim(), typeof password === 'string' ? password : '', check.facility, issuer);
      }
    } catch (err) {
      await attempt?.settle(false);
      throw err;
    }
    // A registered app's attempt is audited as the app's (a wrong secret answered as a wrong password);
    // a username that names neither a user nor an app, as an unknown user's.
    if (app) {
      await attempt?.settle(!app.ok && APP_FAILURES_COUNTED.has(app.reason));
      audit({
        username: String(username).trim().slice(0, 256),
        app: true,
        organization: app.ok ? app.caller.organization : app.organization,
        clientId: check.via,
        address: check.address,
        result: app.ok ? 'success' : app.reason,
      });
      return app.ok ? { app: app.caller } : { refused: app.message };
    }
    await attempt?.settle(!result.ok && ADDRESS_COUNTED.has(result.reason));
    audit({ username: name, userId: result.user?.id, organization: result.user?.organization, clientId: check.via, address: check.address, result: result.ok ? 'success' : result.reason });
    if (!result.ok) return {};
    const user = result.user;
    return {
      principal: {
        userId: user.id,
        username: user.username,
        role: user.role,
        ...(user.organization ? { organization: user.organization } : {}),
        fhirUser: fhirUserOf(user),
        caller: callerForUser(user, narrowScope(user.role, 'user/*.cruds'), { clientId: check.via, issuer }),
      },
    };
  };
}

/** IIS_ADMIN_USERNAME / IIS_ADMIN_PASSWORD: the first public-health administrator. */
async function bootstrapAdmin(users: UserDirectory, config: Config, logger: Logger, auditAdmin: (e: Omit<AdminEvent, 'kind'>) => void): Promise<void> {
  const { adminUsername, adminPassword } = config.signin ?? {};
  if (!adminUsername && !adminPassword) return;
  if (!adminUsername || !adminPassword) throw new Error('IIS_ADMIN_USERNAME and IIS_ADMIN_PASSWORD must be set together');
  if (await users.findByUsername(adminUsername)) return;
  try {
    // CONTRACT.md: the bootstrap takes the operator's password as given (length rules only); a
    // commonly used one is set with a warning in the log.
    const user = await users.create({ username: adminUsername, password: adminPassword, role: 'admin' }, { allowCommonPassword: true });
    if (isCommonPassword(adminPassword)) logger.warn(`IIS_ADMIN_PASSWORD: ${COMMON_PASSWORD_WARNING}`, { username: user.username });
    auditAdmin({ actor: 'IIS_ADMIN_USERNAME', action: 'create', target: `user:${user.username}`, detail: 'role admin (bootstrap)' });
    logger.info('created the public-health administrator', { username: user.username });
  } catch (err) {
    // Another process created it first.
    if ((err as { status?: number }).status === 409) return;
    throw new Error(`IIS_ADMIN_USERNAME / IIS_ADMIN_PASSWORD: ${(err as Error).message}`);
  }
}

/** Keys signing the sign-in cookies, created in DATA_DIR on first start (shared by every process using it). */
function loadCookieKeys(dataDir: string): string[] {
  const file = path.join(dataDir, COOKIE_KEYS_FILE);
  try {
    return readFileSync(file, 'utf8').split('\n').filter(Boolean);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  mkdirSync(dataDir, { recursive: true });
  const key = randomBytes(32).toString('base64url');
  try {
    writeFileSync(file, `${key}\n`, { mode: 0o600, flag: 'wx' });
    return [key];
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return readFileSync(file, 'utf8').split('\n').filter(Boolean);
    throw err;
  }
}
