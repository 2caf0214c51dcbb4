// SMART App Launch 2 EHR launch ("launch-ehr", "context-ehr-patient"): the clinic web app (/app) is
// the EHR. From a patient's record it asks for a launch of a registered app that has a launch URL:
//   GET  /auth/launch/apps                       the apps it may offer ({ apps: [{ clientId, name }] })
//   POST /auth/launch { clientId, patient }      201 { launchUrl, expiresIn }
// (Bearer: the web app's token of the signed-in user; errors are OperationOutcomes.) The server
// mints an opaque launch id (256-bit random, only its SHA-256 is stored) bound to the user, the
// user's facility, the app and the patient, after reading the patient as that user through the
// FHIR pipeline (data sharing applies: a child whose family said No to sharing with the user's
// facility cannot be launched). It is a short-lived record of the store's `signin` namespace
// (provider-adapter.ts sweeps it), taken exactly once: the app, opened at
// `<launch URL>?iss=<FHIR base>&launch=<id>`, sends it to /auth/authorize with the `launch` scope;
// provider.ts refuses an unknown, expired, used or other app's launch before sign-in, and the
// interaction (interactions.ts) takes it and checks it against the user who is signed in there.
import { randomBytes } from 'node:crypto';
import express, { type NextFunction, type Request, type Response } from 'express';
import type { TokenVerifier } from '../auth/verify-token.js';
import { badRequest, forbidden, notFound } from '../fhir/outcome.js';
import type { ExpiringRecords } from '../store/expiring.js';
import { WEB_APP_CLIENT_ID, type AppClients } from './app-clients.js';
import type { PatientLookup } from './patient-lookup.js';
import { artifactHash } from './provider-adapter.js';
import type { User, UserDirectory } from './users.js';

/** How long a launch id may wait for the app to use it. */
export const LAUNCH_TTL_SECONDS = 300;
const MODEL = 'EhrLaunch';

/** What a launch id stands for. */
export interface EhrLaunchContext {
  userId: string;
  /** The user's facility when the launch was made (absent for public health). */
  organization?: string;
  clientId: string;
  /** The patient's id. */
  patient: string;
}

/** Launch ids: minted for the web app, looked at by /auth/authorize, taken once by the interaction. */
export class EhrLaunches {
  constructor(
    private readonly records: ExpiringRecords,
    private readonly ttlSeconds = LAUNCH_TTL_SECONDS
  ) {}

  async mint(context: EhrLaunchContext): Promise<string> {
    const id = randomBytes(32).toString('base64url');
    await this.records.put({ key: artifactHash(MODEL, id), value: { ...context }, expiresAt: Date.now() + this.ttlSeconds * 1000 });
    return id;
  }

  /** Whether the id is a live, unused launch for this app (it stays unused). */
  async usableBy(id: string, clientId: string): Promise<boolean> {
    if (!wellFormed(id)) return false;
    const record = await this.records.get(artifactHash(MODEL, id));
    return record?.value.clientId === clientId;
  }

  /** The launch's context, once: a second take of the same id gets nothing. */
  async take(id: string): Promise<EhrLaunchContext | undefined> {
    if (!wellFormed(id)) return undefined;
    const record = await this.records.take(artifactHash(MODEL, id));
    return record ? (record.value as unknown as EhrLaunchContext) : undefined;
  }
}

function wellFormed(id: unknown): id is string {
  return typeof id === 'string' && /^[A-Za-z0-9_-]{20,128}$/.test(id);
}

/** Why a launch taken at the authorization endpoint does not hold for this sign-in (undefined: it holds). */
export function launchRefusal(context: EhrLaunchContext | undefined, clientId: string, user: User): string | undefined {
  if (!context) return 'The launch is unknown, expired or already used: open the app again from the patient record';
  if (context.clientId !== clientId) return 'The launch was made for another app';
  if (context.userId !== user.id) return 'The launch was made for another user: open the app again from your own session';
  if ((context.organization ?? '') !== (user.organization ?? '')) return "The launch was made for another facility's session";
  return undefined;
}

export interface EhrLaunchRouterOptions {
  users: UserDirectory;
  clients: AppClients;
  verifier: TokenVerifier;
  patients: PatientLookup;
  launches: EhrLaunches;
  /** `PUBLIC_BASE_URL/auth`: the `iss` of people's tokens. */
  issuer: string;
  /** The FHIR base: the `iss` the app is given. */
  fhirBaseUrl: string;
  basePath: string;
}

export function ehrLaunchRouter(options: EhrLaunchRouterOptions): express.Router {
  const { users, clients, verifier, patients, launches } = options;
  const router = express.Router();
  const json = express.json({ limit: '4kb', type: () => true });
  /** The signed-in user behind the web app's token; only the EHR (the built-in web app) launches apps. */
  const userOf = async (req: Request): Promise<User> => {
    const caller = await verifier.verify(req.headers.authorization);
    if (caller.issuer !== options.issuer || !caller.sub || caller.clientId !== WEB_APP_CLIENT_ID) {
      throw forbidden('Apps are launched from the clinic web app, with its signed-in user');
    }
    const user = await users.get(caller.sub);
    if (!user || !user.active) throw forbidden('Your account is disabled or no longer exists');
    return user;
  };
  const wrap =
    (fn: (req: Request, res: Response, user: User) => Promise<void>) =>
    (req: Request, res: Response, next: NextFunction): void => {
      (async () => {
        res.setHeader('Cache-Control', 'no-store');
        await fn(req, res, await userOf(req));
      })().catch(next);
    };

  router.get(`${options.basePath}/launch/apps`, wrap(async (_req, res) => {
    const apps = (await clients.list()).filter((c) => c.launchUri).map((c) => ({ clientId: c.clientId, name: c.name ?? c.clientId }));
    res.json({ apps });
  }));

  router.post(`${options.basePath}/launch`, json, wrap(async (req, res, user) => {
    const body = (req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? req.body : {}) as Record<string, unknown>;
    const clientId = typeof body.clientId === 'string' ? body.clientId : '';
    const patientId = typeof body.patient === 'string' ? body.patient.replace(/^Patient\//, '') : '';
    if (!clientId || !patientId) throw badRequest('clientId and patient are required');
    const app = await clients.get(clientId);
    if (!app?.launchUri) throw notFound(`No registered app "${clientId}" with a launch URL`);
    // Read as the user through the FHIR pipeline: scopes, data sharing and audit apply.
    const patient = await patients.visible(user, clientId, patientId, String(res.locals.requestId ?? ''));
    if (!patient) throw forbidden('This patient cannot be opened in an app from your session (unknown, or not shared with your facility)');
    const launch = await launches.mint({ userId: user.id, ...(user.organization ? { organization: user.organization } : {}), clientId, patient: patient.id });
    const url = new URL(app.launchUri);
    url.searchParams.set('iss', options.fhirBaseUrl);
    url.searchParams.set('launch', launch);
    res.status(201).json({ launchUrl: url.toString(), expiresIn: LAUNCH_TTL_SECONDS });
  }));
  return router;
}
