// Account administration over HTTP (JSON; errors are OperationOutcomes), used by `npm run users`
// against a running server and by any admin page:
//   GET    /auth/admin/users[?organization=Organization/X]   list (a site-admin: its facility only)
//   POST   /auth/admin/users          { username, password, role, organization?, name? }
//   GET    /auth/admin/users/{username}
//   PATCH  /auth/admin/users/{username}
//          { active?, role?, password?, unlock?: true, totp?: "enable" | "disable" }
//   GET    /auth/admin/clients, POST /auth/admin/clients { clientId, redirectUris, public, name?, launchUri?,
//          jwksUri? | jwks? (private_key_jwt: the app's key set URL or its public keys; no secret) },
//   DELETE /auth/admin/clients/{clientId}                      (public health only)
//   POST   /auth/admin/registration-tokens { hours? } → { token, expiresAt }: an initial access
//          token for one dynamic registration (registration.ts)   (public health only)
// Who may: public-health administrators (an `admin` user's token, or a system/*.cruds token without
// an organization, e.g. the CLI's) manage every user and app; a `site-admin` manages the users of its
// own facility only, never grants `admin`, and never changes its own role or status.
import express, { type NextFunction, type Request, type Response } from 'express';
import type { Caller } from '../auth/caller.js';
import type { TokenVerifier } from '../auth/verify-token.js';
import { badRequest, forbidden, notFound } from '../fhir/outcome.js';
import type { AdminEvent } from './audit.js';
import { clientKind, publicView, type AppClients } from './app-clients.js';
import { DEFAULT_REGISTRATION_TOKEN_HOURS, type RegistrationTokens } from './registration.js';
import { isRole, type Role } from './roles.js';
import { newTotpSecret, totpUri } from './totp.js';
import { normaliseUsername, userIdFor, viewOf, type User, type UserDirectory } from './users.js';

export interface AdminOptions {
  users: UserDirectory;
  clients: AppClients;
  registrationTokens: RegistrationTokens;
  /** Ends the access tokens of a removed app (revoked-tokens.ts). */
  revokedTokens?: { revokeClient(clientId: string): Promise<void> };
  verifier: TokenVerifier;
  /** Tokens of people come from here (`iss`): only they can name a user as actor. */
  issuer: string;
  auditAdmin(event: Omit<AdminEvent, 'kind'>): void;
  totpIssuer: string;
}

/** Who is administering: public health (all facilities) or one facility's site-admin. */
export type Administrator =
  | { kind: 'public-health'; actor: string; /** A system client (the operator's `npm run users`), not a person. */ operator?: true }
  | { kind: 'site-admin'; actor: string; user: User; organization: string };

/**
 * The operator's `npm run users` (a public-health system client): CONTRACT.md's bootstrap commands
 * set any password of the length rules, so a commonly used one is set (the CLI warns); people
 * administering accounts (admins, site-admins, the web app) are refused it.
 */
function operatorCommand(admin: Administrator): boolean {
  return admin.kind === 'public-health' && admin.operator === true;
}

/** Resolves the administrator behind a caller, or throws 403. */
export async function administratorOf(caller: Caller, users: UserDirectory, issuer: string): Promise<Administrator> {
  if (caller.fhirUser?.startsWith('Practitioner/') && caller.issuer === issuer) {
    const user = await users.get(caller.fhirUser.slice('Practitioner/'.length));
    if (!user || !user.active) throw forbidden('Your account is disabled or no longer exists');
    if (user.role === 'admin') return { kind: 'public-health', actor: user.username };
    if (user.role === 'site-admin' && user.organization) return { kind: 'site-admin', actor: user.username, user, organization: user.organization };
    throw forbidden(`Administering accounts needs the site-admin or admin role; you are ${user.role}`);
  }
  // A public-health system client with full rights (system/*.cruds, as `npm run users` mints):
  // a read-only or narrower system client administers nothing.
  const full = (s: Caller['scopes'][number]) => s.context === 'system' && s.resourceType === '*' && [...'cruds'].every((p) => s.permissions.has(p as 'c'));
  if (!caller.organization && !caller.fhirUser && caller.scopes.some(full)) {
    return { kind: 'public-health', actor: caller.sub ?? caller.clientId ?? 'system', operator: true };
  }
  throw forbidden('Administering accounts needs a public-health administrator or a site-admin');
}

export interface UserChange {
  active?: boolean;
  role?: string;
  password?: string;
  unlock?: boolean;
  totp?: 'enable' | 'disable';
}

/** Checks that the administrator may make the change to the target (throws 403 otherwise). */
export function assertMayChange(admin: Administrator, target: User | { organization?: string; role?: string }, change: { role?: string; creating?: boolean; active?: boolean }): void {
  if (admin.kind === 'public-health') return;
  if (target.organization !== admin.organization) {
    throw forbidden(`A site-admin manages the users of ${admin.organization} only`);
  }
  if ((change.creating && target.role === 'admin') || change.role === 'admin') {
    throw forbidden('Only public health grants the admin role');
  }
  const self = 'id' in target && target.id === admin.user.id;
  if (self && change.role !== undefined && change.role !== admin.user.role) throw forbidden('You cannot change your own role');
  if (self && change.active === false) throw forbidden('You cannot disable your own account');
}

export function adminRouter(options: AdminOptions): express.Router {
  const { users, clients, verifier, issuer } = options;
  const router = express.Router();
  const json = express.json({ limit: '16kb', type: () => true });
  const wrap =
    (fn: (req: Request, res: Response, admin: Administrator) => Promise<void>) =>
    (req: Request, res: Response, next: NextFunction): void => {
      (async () => {
        res.setHeader('Cache-Control', 'no-store');
        const caller = await verifier.verify(req.headers.authorization);
        await fn(req, res, await administratorOf(caller, users, issuer));
      })().catch(next);
    };
  const target = async (username: string): Promise<User> => {
    const user = await users.get(userIdFor(username));
    if (!user) throw notFound(`No user "${normaliseUsername(username)}"`);
    return user;
  };
  const audit = (admin: Administrator, action: string, user: { username: string; organization?: string }, detail?: string, refused?: string) =>
    options.auditAdmin({
      actor: admin.actor,
      ...(admin.kind === 'site-admin' ? { actorOrganization: admin.organization } : {}),
      action,
      target: `user:${user.username}`,
      ...(user.organization ? { targetOrganization: user.organization } : {}),
      ...(detail ? { detail } : {}),
      ...(refused ? { refused } : {}),
    });
  /** Runs a check; a refusal is audited before it is answered. */
  const guarded = (admin: Administrator, action: string, user: { username: string; organization?: string }, check: () => void) => {
    try {
      check();
    } catch (err) {
      audit(admin, action, user, undefined, (err as Error).message);
      throw err;
    }
  };

  router.get('/auth/admin/users', wrap(async (req, res, admin) => {
    const asked = new URLSearchParams(req.originalUrl.split('?')[1] ?? '').get('organization') ?? undefined;
    if (admin.kind === 'site-admin' && asked && asked !== admin.organization) throw forbidden(`A site-admin sees the users of ${admin.organization} only`);
    const organization = admin.kind === 'site-admin' ? admin.organization : asked;
    res.json({ users: (await users.list(organization ? { organization } : {})).map((u) => viewOf(u)) });
  }));

  router.post('/auth/admin/users', json, wrap(async (req, res, admin) => {
    const body = objectBody(req.body);
    const input = {
      username: str(body.username),
      password: str(body.password),
      role: str(body.role),
      organization: str(body.organization) || (admin.kind === 'site-admin' ? admin.organization : undefined),
      name: str(body.name) || undefined,
    };
    guarded(admin, 'create', { username: input.username, organization: input.organization }, () =>
      assertMayChange(admin, { organization: input.organization, role: input.role }, { creating: true })
    );
    const user = await users.create(input, { allowCommonPassword: operatorCommand(admin) });
    audit(admin, 'create', user, `role ${user.role}`);
    res.status(201).setHeader('Location', `/auth/admin/users/${encodeURIComponent(user.username)}`);
    res.json(viewOf(user));
  }));

  router.get('/auth/admin/users/:username', wrap(async (req, res, admin) => {
    const user = await target(String(req.params.username));
    if (admin.kind === 'site-admin' && user.organization !== admin.organization) throw forbidden(`A site-admin sees the users of ${admin.organization} only`);
    res.json(viewOf(user));
  }));

  router.patch('/auth/admin/users/:username', json, wrap(async (req, res, admin) => {
    const body = objectBody(req.body);
    const change: UserChange = {};
    const problems: string[] = [];
    for (const key of Object.keys(body)) if (!['active', 'role', 'password', 'unlock', 'totp'].includes(key)) problems.push(`Unknown field "${key}"`);
    if (body.active !== undefined) typeof body.active === 'boolean' ? (change.active = body.active) : problems.push('active must be true or false');
    if (body.role !== undefined) isRole(body.role) ? (change.role = body.role) : problems.push('role must be admin, site-admin, clinician, data-entry or reports');
    if (body.password !== undefined) typeof body.password === 'string' ? (change.password = body.password) : problems.push('password must be a string');
    if (body.unlock !== undefined) body.unlock === true ? (change.unlock = true) : problems.push('unlock must be true');
    if (body.totp !== undefined) body.totp === 'enable' || body.totp === 'disable' ? (change.totp = body.totp) : problems.push('totp must be "enable" or "disable"');
    if (problems.length > 0) throw badRequest(problems.join('; '));
    const user = await target(String(req.params.username));
    const actions = describeChange(change);
    guarded(admin, actions[0] ?? 'change', user, () => assertMayChange(admin, user, { role: change.role, active: change.active }));
    if (change.role !== undefined && (change.role === 'admin') !== (user.role === 'admin')) {
      // A facility user becoming public health (or back) changes its organization too: refuse,
      // create a separate account instead.
      throw badRequest('Moving an account between public health and a facility is not supported: create a new account');
    }
    if (change.password !== undefined) await users.setPassword(user.id, change.password, { allowCommonPassword: operatorCommand(admin) });
    let secret: string | undefined;
    if (change.totp === 'enable') secret = newTotpSecret();
    const updated = await users.update(user.id, (u) => ({
      ...u,
      ...(change.active !== undefined ? { active: change.active } : {}),
      ...(change.role !== undefined ? { role: change.role as Role } : {}),
      ...(change.unlock ? { lockedUntil: undefined, failedAttempts: 0 } : {}),
      ...(secret ? { totp: { secret } } : {}),
      ...(change.totp === 'disable' ? { totp: undefined } : {}),
    }));
    for (const action of actions) audit(admin, action, updated, action === 'change-role' ? `${user.role} → ${updated.role}` : undefined);
    res.json({ ...viewOf(updated), ...(secret ? { totpSecret: secret, totpUri: totpUri(secret, updated.username, options.totpIssuer) } : {}) });
  }));

  router.get('/auth/admin/clients', wrap(async (_req, res, admin) => {
    if (admin.kind !== 'public-health') throw forbidden('Apps are registered by public health');
    res.json({ clients: (await clients.list()).map(publicView) });
  }));

  router.post('/auth/admin/clients', json, wrap(async (req, res, admin) => {
    if (admin.kind !== 'public-health') throw forbidden('Apps are registered by public health');
    const body = objectBody(req.body);
    const redirectUris = Array.isArray(body.redirectUris) ? body.redirectUris.map(String) : typeof body.redirectUri === 'string' ? [body.redirectUri] : [];
    const client = await clients.register({
      clientId: str(body.clientId),
      redirectUris,
      public: body.public === true,
      name: str(body.name) || undefined,
      launchUri: str(body.launchUri) || undefined,
      ...(body.jwksUri !== undefined ? { jwksUri: str(body.jwksUri) } : {}),
      ...(body.jwks !== undefined ? { jwks: body.jwks } : {}),
      ...(body.askConsent === true ? { askConsent: true } : {}),
    });
    options.auditAdmin({ actor: admin.actor, action: 'client-register', target: `client:${client.clientId}`, detail: clientKind(client) });
    res.status(201).json(client);
  }));

  router.post('/auth/admin/registration-tokens', json, wrap(async (req, res, admin) => {
    if (admin.kind !== 'public-health') throw forbidden('Registration tokens are issued by public health');
    const body = req.body === undefined || req.body === null || (typeof req.body === 'object' && Object.keys(req.body).length === 0) ? {} : objectBody(req.body);
    const hours = body.hours === undefined ? DEFAULT_REGISTRATION_TOKEN_HOURS : Number(body.hours);
    let issued;
    try {
      issued = await options.registrationTokens.issue(admin.actor, hours);
    } catch (err) {
      if (err instanceof RangeError) throw badRequest(err.message);
      throw err;
    }
    options.auditAdmin({ actor: admin.actor, action: 'registration-token', target: 'client:(dynamic registration)', detail: `expires ${issued.expiresAt}` });
    res.status(201).json(issued);
  }));

  router.delete('/auth/admin/clients/:clientId', wrap(async (req, res, admin) => {
    if (admin.kind !== 'public-health') throw forbidden('Apps are registered by public health');
    const clientId = String(req.params.clientId);
    if (!(await clients.remove(clientId))) throw notFound(`No registered client "${clientId}"`);
    // Its refresh tokens are refused (the app is unknown); its access tokens from now on too.
    await options.revokedTokens?.revokeClient(clientId);
    options.auditAdmin({ actor: admin.actor, action: 'client-remove', target: `client:${clientId}` });
    res.status(204).end();
  }));

  return router;
}

function describeChange(change: UserChange): string[] {
  const actions: string[] = [];
  if (change.active === false) actions.push('disable');
  if (change.active === true) actions.push('enable');
  if (change.role !== undefined) actions.push('change-role');
  if (change.password !== undefined) actions.push('reset-password');
  if (change.unlock) actions.push('unlock');
  if (change.totp) actions.push(`totp-${change.totp}`);
  return actions;
}

function objectBody(body: unknown): Record<string, unknown> {
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('The body must be a JSON object');
  return body as Record<string, unknown>;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
