// `npm run users` and `npm run clients` (scripts/users.ts, scripts/clients.ts). When the server
// answers at --url (default PUBLIC_BASE_URL, or http://localhost:PORT), the change goes through its
// admin API (/auth/admin, admin.ts) with a public-health token signed by the server key in
// DATA_DIR; when no server runs, the store is opened directly (the embedded store allows one
// process at a time). Either way the change is audited.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { AuditLog } from '../audit/audit-log.js';
import { operatorToken } from '../auth/operator-token.js';
import { tokenIssuer } from '../auth/smart-config.js';
import { COMMON_PASSWORD_WARNING, isCommonPassword, MIN_PASSWORD_LENGTH } from './passwords.js';
import type { Config } from '../config.js';
import { isFhirError } from '../fhir/outcome.js';
import { createLogger } from '../logger.js';
import { createStore } from '../app/open-store.js';
import type { Store } from '../store/store.js';
import { AppClients, clientKind, publicView, webAppClient } from './app-clients.js';
import { buildSecurityEvent } from './audit.js';
import { ARTIFACTS_NAMESPACE } from './provider-adapter.js';
import { RevokedAccessTokens } from './revoked-tokens.js';
import { DEFAULT_REGISTRATION_TOKEN_HOURS, RegistrationTokens } from './registration.js';
import { ROLES } from './roles.js';
import { userIdFor, UserDirectory, viewOf } from './users.js';
import { newTotpSecret, totpUri } from './totp.js';

export const USERS_USAGE = `usage:
  npm run users -- add --username U --password P --organization Organization/X --role clinician|data-entry|reports|site-admin [--name "N"]
  npm run users -- add --username U --password P --role admin          (public health: no organization)
  npm run users -- list [--organization Organization/X]
  npm run users -- disable|enable|unlock --username U
  npm run users -- reset-password --username U --password P
  npm run users -- set-role --username U --role R
  npm run users -- totp --username U --enable|--disable
options: --url <server> (default PUBLIC_BASE_URL or http://localhost:PORT); --direct (open the store, no server)`;

export const CLIENTS_USAGE = `usage:
  npm run clients -- add --client-id C --redirect-uri URI [--redirect-uri URI2] [--public] [--name "N"] [--launch-uri URL] [--ask-consent]
                        [--jwks-uri URL | --jwks FILE]   (private_key_jwt: the app's key set, by URL or a JSON file; no secret)
  npm run clients -- registration-token [--hours H]   (one dynamic registration at POST /auth/register; default 24 h)
  npm run clients -- list
  npm run clients -- remove --client-id C
options: --url <server> (default PUBLIC_BASE_URL or http://localhost:PORT); --direct (open the store, no server)`;

export interface CliOutput {
  out(line: string): void;
  err(line: string): void;
}

/** The operations both CLIs need, over HTTP or directly on the store. */
interface Backend {
  request(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

export async function runCli(kind: 'users' | 'clients', argv: string[], config: Config, io: CliOutput): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        username: { type: 'string' },
        password: { type: 'string' },
        organization: { type: 'string' },
        role: { type: 'string' },
        name: { type: 'string' },
        enable: { type: 'boolean' },
        disable: { type: 'boolean' },
        'client-id': { type: 'string' },
        'redirect-uri': { type: 'string', multiple: true },
        'launch-uri': { type: 'string' },
        'jwks-uri': { type: 'string' },
        hours: { type: 'string' },
        jwks: { type: 'string' },
        public: { type: 'boolean' },
        'ask-consent': { type: 'boolean' },
        url: { type: 'string' },
        direct: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    io.err(`${(err as Error).message}\n${kind === 'users' ? USERS_USAGE : CLIENTS_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  const usage = kind === 'users' ? USERS_USAGE : CLIENTS_USAGE;
  const command = positionals[0];
  if (values.help || !command) {
    io.out(usage);
    return values.help ? 0 : 2;
  }
  const plan = kind === 'users' ? userRequest(command, values) : clientRequest(command, values);
  if (typeof plan === 'string') {
    io.err(`${plan}\n${usage}`);
    return 2;
  }
  const password = (plan.body as { password?: unknown } | undefined)?.password;
  if (typeof password === 'string' && password.length >= MIN_PASSWORD_LENGTH && isCommonPassword(password)) io.err(COMMON_PASSWORD_WARNING);
  const backend = values.direct ? await directBackend(config) : await httpOrDirect(config, values.url);
  try {
    const res = await backend.request(plan.method, plan.path, plan.body);
    if (res.status >= 400) {
      io.err(`error ${res.status}: ${describeError(res.body)}`);
      return 1;
    }
    plan.print(res.body, io);
    return 0;
  } finally {
    await backend.close();
  }
}

interface Plan {
  method: string;
  path: string;
  body?: unknown;
  print(body: any, io: CliOutput): void;
}

function userRequest(command: string, v: Record<string, unknown>): Plan | string {
  const username = v.username as string | undefined;
  const at = username ? `/auth/admin/users/${encodeURIComponent(username)}` : '';
  const needUser = () => (username ? undefined : `${command} needs --username`);
  const printUser = (u: any, io: CliOutput) =>
    io.out(`${u.username}\t${u.role}\t${u.organization ?? '(public health)'}\t${u.active ? 'active' : 'disabled'}${u.locked ? '\tlocked' : ''}${u.totp ? '\ttotp' : ''}`);
  switch (command) {
    case 'add':
      if (!username || !v.password || !v.role) return 'add needs --username, --password and --role';
      if (!(ROLES as readonly string[]).includes(v.role as string)) return `--role must be one of ${ROLES.join(', ')}`;
      return {
        method: 'POST',
        path: '/auth/admin/users',
        body: { username, password: v.password, role: v.role, organization: v.organization, name: v.name },
        print: (u, io) => io.out(`added ${u.username} (${u.role}${u.organization ? `, ${u.organization}` : ''}); fhirUser ${u.fhirUser}`),
      };
    case 'list':
      return {
        method: 'GET',
        path: `/auth/admin/users${v.organization ? `?organization=${encodeURIComponent(v.organization as string)}` : ''}`,
        print: (b, io) => (b.users.length === 0 ? io.out('no users') : b.users.forEach((u: unknown) => printUser(u, io))),
      };
    case 'disable':
    case 'enable':
    case 'unlock':
      return needUser() ?? { method: 'PATCH', path: at, body: command === 'unlock' ? { unlock: true } : { active: command === 'enable' }, print: printUser };
    case 'reset-password':
      return needUser() ?? (v.password ? { method: 'PATCH', path: at, body: { password: v.password }, print: (u, io) => io.out(`password of ${u.username} reset`) } : 'reset-password needs --password');
    case 'set-role':
      return needUser() ?? (v.role ? { method: 'PATCH', path: at, body: { role: v.role }, print: printUser } : 'set-role needs --role');
    case 'totp':
      if (Boolean(v.enable) === Boolean(v.disable)) return 'totp needs --enable or --disable';
      return (
        needUser() ?? {
          method: 'PATCH',
          path: at,
          body: { totp: v.enable ? 'enable' : 'disable' },
          print: (u, io) => io.out(u.totpUri ? `second factor on for ${u.username}: add this to the authenticator app\n${u.totpUri}` : `second factor off for ${u.username}`),
        }
      );
    default:
      return `unknown command "${command}"`;
  }
}

function clientRequest(command: string, v: Record<string, unknown>): Plan | string {
  const clientId = v['client-id'] as string | undefined;
  switch (command) {
    case 'add':
      if (!clientId || !(v['redirect-uri'] as string[] | undefined)?.length) return 'add needs --client-id and --redirect-uri';
      if (v['jwks-uri'] !== undefined && v.jwks !== undefined) return 'give --jwks-uri or --jwks, not both';
      let jwks: unknown;
      if (typeof v.jwks === 'string') {
        try {
          jwks = JSON.parse(readFileSync(v.jwks, 'utf8'));
        } catch (err) {
          return `--jwks ${v.jwks}: not a readable JSON file (${(err as Error).message})`;
        }
      }
      return {
        method: 'POST',
        path: '/auth/admin/clients',
        body: {
          clientId,
          redirectUris: v['redirect-uri'],
          public: Boolean(v.public),
          name: v.name,
          ...(v['launch-uri'] ? { launchUri: v['launch-uri'] } : {}),
          ...(v['jwks-uri'] !== undefined ? { jwksUri: v['jwks-uri'] } : {}),
          ...(jwks !== undefined ? { jwks } : {}),
          ...(v['ask-consent'] ? { askConsent: true } : {}),
        },
        print: (c, io) => {
          io.out(`registered ${c.clientId} (${c.public ? 'public: PKCE, no secret' : c.jwksUri || c.jwks ? `confidential: private_key_jwt (RS384 or ES384 assertions; ${c.jwksUri ? `keys fetched from ${c.jwksUri}` : 'keys as given'}), no secret` : 'confidential: client_secret_basic'})`);
          io.out(`client_id=${c.clientId}`);
          io.out(c.askConsent ? 'consent: the user allows the app on a consent screen at every sign-in' : "consent: given with the user's sign-in (no consent screen; --ask-consent shows one)");
          if (c.launchUri) io.out(`launch_uri=${c.launchUri} (EHR launch from a patient's record in the clinic web app)`);
          if (c.secret) io.out(`client_secret=${c.secret}\n(shown once: store it in the app's configuration)`);
        },
      };
    case 'registration-token':
      return {
        method: 'POST',
        path: '/auth/admin/registration-tokens',
        body: v.hours !== undefined ? { hours: Number(v.hours) } : {},
        print: (t, io) => {
          io.out(`registration_token=${t.token}`);
          io.out(`(good for one registration at POST /auth/register until ${t.expiresAt}; shown once)`);
        },
      };
    case 'list':
      return {
        method: 'GET',
        path: '/auth/admin/clients',
        print: (b, io) => b.clients.forEach((c: any) => io.out(`${c.clientId}\t${clientKind(c)}\t${c.redirectUris.join(' ')}${c.launchUri ? `\tlaunch ${c.launchUri}` : ''}`)),
      };
    case 'remove':
      if (!clientId) return 'remove needs --client-id';
      return { method: 'DELETE', path: `/auth/admin/clients/${encodeURIComponent(clientId)}`, print: (_b, io) => io.out(`removed ${clientId}`) };
    default:
      return `unknown command "${command}"`;
  }
}

function describeError(body: any): string {
  const issues = body?.issue as Array<{ diagnostics?: string; details?: { text?: string } }> | undefined;
  if (issues?.length) return issues.map((i) => i.diagnostics ?? i.details?.text).join('; ');
  return typeof body === 'string' ? body : JSON.stringify(body);
}

async function httpOrDirect(config: Config, url: string | undefined): Promise<Backend> {
  const base = (url ?? config.publicBaseUrl).replace(/\/+$/, '');
  try {
    const res = await fetch(`${base}/healthz`, { signal: AbortSignal.timeout(2000) });
    if (res.ok) return await httpBackend(config, base);
  } catch {
    // No server there: work on the store itself.
  }
  if (url) throw new Error(`No server answers at ${base}`);
  try {
    return await directBackend(config);
  } catch (err) {
    // The store is held by a server this command did not find: it looked at the address its own
    // environment names. "Stop it first" (the store's advice to a second server) is the wrong
    // advice to an operator adding a user to a running server on another port.
    const message = err instanceof Error ? err.message : String(err);
    if (!message.startsWith('Data directory is locked')) throw err;
    const holder = /locked by ([^:]+):/.exec(message)?.[1] ?? 'a server';
    throw new Error(
      `DATA_DIR ${config.dataDir} is in use by ${holder}, but no server answers at ${base}: run this command with that server's PORT or PUBLIC_BASE_URL, or --url <its address>, and it goes through the server`
    );
  }
}

async function httpBackend(config: Config, base: string): Promise<Backend> {
  const token = await operatorToken(config, 'system/*.cruds');
  return {
    async request(method, path, body) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await res.text();
      return { status: res.status, body: text ? JSON.parse(text) : undefined };
    },
    close: async () => undefined,
  };
}

/** No server running: the same operations on the store, audited through an AuditLog of our own. */
export async function directBackend(config: Config, openStore: (c: Config) => Store | Promise<Store> = createStore): Promise<Backend> {
  const store = await openStore(config);
  await store.init();
  const logger = createLogger('warn');
  const fhirBase = `${config.publicBaseUrl}/fhir`;
  const audit = new AuditLog({ store, logger, serverUrl: fhirBase, dataDir: config.dataDir });
  const users = new UserDirectory(store);
  const clients = new AppClients(store, [webAppClient(config.publicBaseUrl)]);
  const actor = `cli:${process.env.USER ?? 'operator'}`;
  const record = (action: string, target: string, detail?: string, targetOrganization?: string) =>
    audit.recordEvent(buildSecurityEvent({ kind: 'admin', actor, action, target, ...(detail ? { detail } : {}), ...(targetOrganization ? { targetOrganization } : {}) }, fhirBase));
  const handle = async (method: string, path: string, body: any): Promise<{ status: number; body: any }> => {
    const [route, query] = path.split('?');
    const segments = route.split('/').filter(Boolean).slice(2).map(decodeURIComponent);
    if (segments[0] === 'users') {
      if (method === 'GET' && segments.length === 1) {
        const organization = new URLSearchParams(query ?? '').get('organization') ?? undefined;
        return { status: 200, body: { users: (await users.list(organization ? { organization } : {})).map((u) => viewOf(u)) } };
      }
      if (method === 'POST') {
        const user = await users.create(body, { allowCommonPassword: true });
        record('create', `user:${user.username}`, `role ${user.role}`, user.organization);
        return { status: 201, body: viewOf(user) };
      }
      const id = userIdFor(segments[1] ?? '');
      const current = await users.get(id);
      if (!current) return { status: 404, body: { issue: [{ diagnostics: `No user "${segments[1]}"` }] } };
      if (body.password !== undefined) await users.setPassword(id, body.password, { allowCommonPassword: true });
      const secret = body.totp === 'enable' ? newTotpSecret() : undefined;
      if (body.role !== undefined && (body.role === 'admin') !== (current.role === 'admin')) {
        return { status: 400, body: { issue: [{ diagnostics: 'Moving an account between public health and a facility is not supported: create a new account' }] } };
      }
      if (body.role !== undefined && !(ROLES as readonly string[]).includes(body.role)) return { status: 400, body: { issue: [{ diagnostics: `role must be one of ${ROLES.join(', ')}` }] } };
      const updated = await users.update(id, (u) => ({
        ...u,
        ...(body.active !== undefined ? { active: body.active } : {}),
        ...(body.role !== undefined ? { role: body.role } : {}),
        ...(body.unlock ? { lockedUntil: undefined, failedAttempts: 0 } : {}),
        ...(secret ? { totp: { secret } } : {}),
        ...(body.totp === 'disable' ? { totp: undefined } : {}),
      }));
      const action = body.active === false ? 'disable' : body.active === true ? 'enable' : body.role ? 'change-role' : body.password ? 'reset-password' : body.unlock ? 'unlock' : `totp-${body.totp}`;
      record(action, `user:${updated.username}`, body.role ? `${current.role} → ${updated.role}` : undefined, updated.organization);
      return { status: 200, body: { ...viewOf(updated), ...(secret ? { totpUri: totpUri(secret, updated.username, 'IIS') } : {}) } };
    }
    if (segments[0] === 'registration-tokens' && method === 'POST') {
      try {
        const issued = await new RegistrationTokens(store.expiringRecords(ARTIFACTS_NAMESPACE)).issue(actor, body.hours ?? DEFAULT_REGISTRATION_TOKEN_HOURS);
        record('registration-token', 'client:(dynamic registration)', `expires ${issued.expiresAt}`);
        return { status: 201, body: issued };
      } catch (err) {
        if (err instanceof RangeError) return { status: 400, body: { issue: [{ diagnostics: err.message }] } };
        throw err;
      }
    }
    if (segments[0] === 'clients') {
      if (method === 'GET') return { status: 200, body: { clients: (await clients.list()).map(publicView) } };
      if (method === 'POST') {
        const client = await clients.register(body);
        record('client-register', `client:${client.clientId}`, clientKind(client));
        return { status: 201, body: client };
      }
      if (method === 'DELETE') {
        if (!(await clients.remove(segments[1] ?? ''))) return { status: 404, body: { issue: [{ diagnostics: `No registered client "${segments[1]}"` }] } };
        // As the server's admin API does: the app's access tokens are refused (by the server processes, at their next read of the store).
        await new RevokedAccessTokens(store.expiringRecords(ARTIFACTS_NAMESPACE), tokenIssuer(config.publicBaseUrl), (config.signin?.accessTokenMinutes ?? 15) * 60).revokeClient(segments[1] ?? '');
        record('client-remove', `client:${segments[1]}`);
        return { status: 204, body: undefined };
      }
    }
    return { status: 404, body: { issue: [{ diagnostics: `No operation ${method} ${path}` }] } };
  };
  return {
    async request(method, path, body) {
      try {
        return await handle(method, path, body);
      } catch (err) {
        if (isFhirError(err)) return { status: err.status, body: err.outcome };
        throw err;
      }
    },
    async close() {
      await audit.close();
      await store.close();
    },
  };
}
