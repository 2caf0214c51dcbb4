// The pages of the sign-in flow, served at /auth/interaction/<uid> while oidc-provider waits for the
// user: sign in (username, password, and the one-time code when the user has a second factor),
// choose a patient (standalone launch with launch/patient) or take it from the EHR launch (the
// `launch` id the clinic web app gave the app, ehr-launch.ts), allow or deny the app's scopes.
import express, { type NextFunction, type Request, type Response } from 'express';
import type Provider from 'oidc-provider';
import { errors as oidcErrors } from 'oidc-provider';
import { ADDRESS_COUNTED, type FailedSignInsByAddress } from './address-throttle.js';
import type { AppClients } from './app-clients.js';
import type { SignInEvent } from './audit.js';
import { launchRefusal, type EhrLaunches } from './ehr-launch.js';
import { consentPage, describeScope, loginPage, messagePage, page, patientPickerPage } from './pages.js';
import type { PatientLookup, PatientQuery } from './patient-lookup.js';
import { resourceScopes } from './provider.js';
import { NON_RESOURCE_SCOPES, narrowScope } from './roles.js';
import type { SignInFailure, User, UserDirectory } from './users.js';

export interface InteractionOptions {
  provider: Provider;
  users: UserDirectory;
  clients: AppClients;
  patients: PatientLookup;
  setLaunchPatient(grantId: string, patient: string): Promise<void>;
  /** EHR launch ids (ehr-launch.ts). */
  launches: EhrLaunches;
  auditSignIn(event: Omit<SignInEvent, 'kind'>): void;
  /**
   * Apps whose consent is given with the sign-in (the built-in web app, and apps public health
   * registered without `askConsent`: app-clients.ts `asksConsent`): no consent screen, what the app
   * asked is granted within the user's role.
   */
  consentWithSignIn(clientId: string): Promise<boolean>;
  /** The resource indicator of every token (the FHIR base URL): where resource scopes are granted. */
  resourceIndicator: string;
  /** Mount path of the provider, e.g. `/auth`. */
  basePath: string;
  lockoutMinutes: number;
  /** Failed sign-ins per client address (address-throttle.ts). */
  addressThrottle: FailedSignInsByAddress;
}

type Details = Awaited<ReturnType<Provider['interactionDetails']>>;

const FAILURE_TEXT: Record<Exclude<SignInFailure, 'totp-required'>, (o: InteractionOptions) => string> = {
  'invalid-credentials': () => 'The username or password is not right. Check them and try again.',
  locked: (o) => `Too many failed attempts: this account is locked for ${o.lockoutMinutes} minutes. Try again later, or ask your site administrator.`,
  disabled: () => 'This account is disabled. Ask your site administrator.',
  'facility-suspended': () => "Your facility's enrollment is suspended. Ask the immunization program.",
  'totp-invalid': () => 'The one-time code is not right. Enter the current code from your authenticator app.',
};

/** The launch id of an EHR launch (the `launch` scope and parameter), or undefined. */
function ehrLaunchId(details: Details): string | undefined {
  const scopes = String(details.params.scope ?? '').split(' ');
  const launch = details.params.launch;
  return scopes.includes('launch') && typeof launch === 'string' && launch !== '' ? launch : undefined;
}

export function interactionRouter(options: InteractionOptions): express.Router {
  const { provider, users, clients, patients, basePath } = options;
  const router = express.Router();
  const form = express.urlencoded({ extended: false, limit: '16kb', parameterLimit: 20 });
  const at = (uid: string, step = '') => `${basePath}/interaction/${encodeURIComponent(uid)}${step}`;

  const load = async (req: Request, res: Response): Promise<Details | undefined> => {
    try {
      const details = await provider.interactionDetails(req, res);
      if (details.uid !== req.params.uid) throw new oidcErrors.SessionNotFound('interaction mismatch');
      return details;
    } catch (err) {
      if (err instanceof oidcErrors.OIDCProviderError) {
        const { title, body } = messagePage('Sign-in expired', 'This sign-in page has expired or was already used. Go back to the app and start again.');
        page(res, 400, title, body);
        return undefined;
      }
      throw err;
    }
  };
  const clientName = async (details: Details): Promise<string> => {
    const clientId = String(details.params.client_id ?? '');
    return (await clients.get(clientId))?.name ?? clientId;
  };
  const signedInUser = async (details: Details): Promise<User | undefined> => {
    const accountId = details.session?.accountId;
    return accountId ? users.get(accountId) : undefined;
  };
  const wrap =
    (fn: (req: Request, res: Response) => Promise<void>) =>
    (req: Request, res: Response, next: NextFunction): void => {
      fn(req, res).catch(next);
    };

  const showPicker = async (req: Request, res: Response, details: Details, error?: string): Promise<void> => {
    const user = await signedInUser(details);
    if (!user) throw new Error('launch prompt without a signed-in user');
    const search = new URLSearchParams(req.originalUrl.split('?')[1] ?? '');
    const query: PatientQuery = { family: search.get('family') ?? undefined, given: search.get('given') ?? undefined, birthdate: search.get('birthdate') ?? undefined };
    let results;
    let problem = error;
    if (query.family?.trim() || query.given?.trim() || query.birthdate?.trim()) {
      if (query.birthdate && !/^\d{4}-\d{2}-\d{2}$/.test(query.birthdate)) problem = 'The date of birth must be a date (YYYY-MM-DD).';
      else results = await patients.search(user, String(details.params.client_id), query, String(res.locals.requestId ?? ''));
    }
    const { title, body } = patientPickerPage({ action: at(details.uid, '/patient'), searchAction: at(details.uid), clientName: await clientName(details), query, results, error: problem });
    page(res, problem ? 400 : 200, title, body);
  };

  /**
   * A standalone launch asks for a patient; a user whose role opens no patient's record (`reports`:
   * reminder/recall and coverage only) could only meet the picker's searches refused. The app gets
   * the OAuth error instead, back at its redirect URI, saying why. True when refused.
   */
  const refuseLaunchWithoutRecords = async (req: Request, res: Response, details: Details): Promise<boolean> => {
    const user = await signedInUser(details);
    if (!user) throw new Error('launch prompt without a signed-in user');
    if (patients.mayOpenRecords(user, String(details.params.client_id))) return false;
    await provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: `the ${user.role} role opens no patient's record, so the app cannot be given a patient (launch/patient, patient/ scopes): ask without them, or sign in as a user who sees patients` },
      { mergeWithLastSubmission: false }
    );
    return true;
  };

  /**
   * EHR launch: the launch id the app was opened with is taken (used once, whatever the outcome)
   * and must be this app's, this user's and this facility's, and the patient still visible to the
   * user; the patient is then the launch's, as if picked. Otherwise the app gets an OAuth error.
   */
  const resolveEhrLaunch = async (req: Request, res: Response, details: Details): Promise<void> => {
    const user = await signedInUser(details);
    if (!user) throw new Error('launch prompt without a signed-in user');
    const clientId = String(details.params.client_id);
    const context = await options.launches.take(ehrLaunchId(details) as string);
    let refusal = launchRefusal(context, clientId, user);
    const chosen = context && !refusal ? await patients.visible(user, clientId, context.patient, String(res.locals.requestId ?? '')) : undefined;
    if (context && !refusal && !chosen) refusal = 'The patient of the launch can no longer be opened from your session';
    if (refusal || !chosen) {
      await provider.interactionFinished(req, res, { error: 'invalid_request', error_description: refusal }, { mergeWithLastSubmission: false });
      return;
    }
    const grant = new provider.Grant({ accountId: user.id, clientId });
    const grantId = await grant.save();
    await options.setLaunchPatient(grantId, chosen.id);
    await provider.interactionFinished(req, res, { launch: { patient: chosen.id }, consent: { grantId } }, { mergeWithLastSubmission: true });
  };

  /** Adds to the grant the OpenID scopes and claims named, and the resource scopes within the user's role. */
  const grantWithinRole = (
    grant: InstanceType<Provider['Grant']>,
    user: User,
    missing: { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> }
  ): void => {
    if (missing.missingOIDCScope?.length) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims?.length) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) {
      // Scopes the role allows in part are granted (tokens carry them narrowed); the rest are not.
      const allowed = scopes.filter((s) => narrowScope(user.role, s) !== '');
      if (allowed.length > 0) grant.addResourceScope(indicator, allowed.join(' '));
    }
  };

  /** Records the user's consent to what the app asked, within the user's role; returns the grant id. */
  const grantConsent = async (details: Details, user: User): Promise<string> => {
    const clientId = String(details.params.client_id);
    const grant = details.grantId ? await provider.Grant.find(details.grantId) : new provider.Grant({ accountId: user.id, clientId });
    if (!grant) throw new Error(`grant ${details.grantId} vanished`);
    grantWithinRole(grant, user, details.prompt.details as Parameters<typeof grantWithinRole>[2]);
    return grant.save();
  };

  const oidcScopes = new Set<string>(NON_RESOURCE_SCOPES);
  const knownResourceScopes = new Set(resourceScopes());
  /**
   * The consent of an app that does not ask for it (the web app, apps public health registered
   * without askConsent), given with the sign-in itself: a grant of what it asked
   * within the user's role, so the browser goes from the password straight back to the app (no
   * consent step: two redirects fewer). Undefined when the role allows none of it: the consent
   * step then tells the app why (access_denied), as for any app.
   */
  const consentGrantAtLogin = async (details: Details, user: User): Promise<string | undefined> => {
    const clientId = String(details.params.client_id ?? '');
    if (!(await options.consentWithSignIn(clientId))) return undefined;
    const asked = String(details.params.scope ?? '').split(' ').filter(Boolean);
    if (narrowScope(user.role, asked.join(' ')) === '') return undefined;
    const grant = new provider.Grant({ accountId: user.id, clientId });
    grantWithinRole(grant, user, {
      missingOIDCScope: asked.filter((scope) => oidcScopes.has(scope)),
      missingResourceScopes: { [options.resourceIndicator]: asked.filter((scope) => knownResourceScopes.has(scope)) },
    });
    return grant.save();
  };

  router.get(`${basePath}/interaction/:uid`, wrap(async (req, res) => {
    const details = await load(req, res);
    if (!details) return;
    const name = await clientName(details);
    switch (details.prompt.name) {
      case 'login': {
        const { title, body } = loginPage({ action: at(details.uid, '/login'), clientName: name });
        page(res, 200, title, body);
        return;
      }
      case 'launch':
        if (ehrLaunchId(details)) await resolveEhrLaunch(req, res, details);
        else if (await refuseLaunchWithoutRecords(req, res, details)) return;
        else await showPicker(req, res, details);
        return;
      case 'consent': {
        const user = await signedInUser(details);
        if (!user) throw new Error('consent prompt without a signed-in user');
        const asked = String(details.params.scope ?? '').split(' ').filter(Boolean);
        if (narrowScope(user.role, asked.join(' ')) === '') {
          // Nothing the app asked for is within the user's role: an Allow would grant nothing, and
          // oidc-provider would end it with a bare access_denied. The app is told why instead.
          await provider.interactionFinished(
            req,
            res,
            { error: 'access_denied', error_description: `the ${user.role} role allows none of the requested scopes (${asked.join(' ')})` },
            { mergeWithLastSubmission: false }
          );
          return;
        }
        if (await options.consentWithSignIn(String(details.params.client_id))) {
          const grantId = await grantConsent(details, user);
          await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
          return;
        }
        const requested = String(details.params.scope ?? '').split(' ').filter(Boolean);
        const granted = narrowScope(user.role, requested.join(' ')).split(' ').filter(Boolean);
        const withheld = requested.filter((s) => narrowScope(user.role, s) === '');
        const launch = (details.lastSubmission as { launch?: { patient?: string } } | undefined)?.launch?.patient;
        const chosen = launch ? await patients.visible(user, String(details.params.client_id), launch, String(res.locals.requestId ?? '')) : undefined;
        const { title, body } = consentPage({
          action: at(details.uid, '/consent'),
          clientName: name,
          username: user.username,
          scopes: granted.map((scope) => ({ scope, text: describeScope(scope) })),
          withheld,
          patient: chosen ? `${chosen.name}${chosen.birthDate ? `, born ${chosen.birthDate}` : ''}` : undefined,
        });
        page(res, 200, title, body);
        return;
      }
      default: {
        const { title, body } = messagePage('Sign-in problem', `Unexpected step "${details.prompt.name}".`);
        page(res, 400, title, body);
      }
    }
  }));

  router.post(`${basePath}/interaction/:uid/login`, form, wrap(async (req, res) => {
    const details = await load(req, res);
    if (!details) return;
    if (details.prompt.name !== 'login') {
      res.redirect(303, at(details.uid));
      return;
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const username = typeof body.username === 'string' ? body.username : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const code = typeof body.code === 'string' && body.code.trim() ? body.code.trim() : undefined;
    const clientId = String(details.params.client_id ?? '');
    const name = await clientName(details);
    if (!username.trim() || !password) {
      const { title, body: html } = loginPage({ action: at(details.uid, '/login'), clientName: name, username, error: 'Enter your username and password.' });
      page(res, 400, title, html);
      return;
    }
    const address = req.ip ?? req.socket.remoteAddress ?? 'unknown';
    const audit = { username: username.trim().toLowerCase().slice(0, 256), clientId, address };
    // Too many failures from this address (one password tried across many usernames never locks
    // an account): refused before any password check, and not counted against the account.
    const attempt = await options.addressThrottle.begin(address);
    if ('retryAfterSeconds' in attempt) {
      options.auditSignIn({ ...audit, result: 'address-throttled' });
      const minutes = Math.ceil(attempt.retryAfterSeconds / 60);
      const { title, body: html } = loginPage({
        action: at(details.uid, '/login'),
        clientName: name,
        username,
        error: `Too many failed sign-ins from your network address: try again in ${minutes === 1 ? '1 minute' : `${minutes} minutes`}.`,
      });
      res.setHeader('Retry-After', String(attempt.retryAfterSeconds));
      page(res, 429, title, html);
      return;
    }
    let result: Awaited<ReturnType<typeof users.authenticate>>;
    try {
      result = await users.authenticate(username, password, code);
    } catch (err) {
      await attempt.settle(false);
      throw err;
    }
    await attempt.settle(!result.ok && ADDRESS_COUNTED.has(result.reason));
    if (result.ok) {
      options.auditSignIn({ ...audit, userId: result.user.id, organization: result.user.organization, result: 'success' });
      const grantId = await consentGrantAtLogin(details, result.user);
      await provider.interactionFinished(req, res, { login: { accountId: result.user.id }, ...(grantId ? { consent: { grantId } } : {}) }, { mergeWithLastSubmission: false });
      return;
    }
    if (result.reason === 'totp-required') {
      const { title, body: html } = loginPage({ action: at(details.uid, '/login'), clientName: name, username, askTotp: true, error: 'Enter your password again and the one-time code from your authenticator app.' });
      page(res, 401, title, html);
      return;
    }
    options.auditSignIn({ ...audit, userId: result.user?.id, organization: result.user?.organization, result: result.reason });
    const { title, body: html } = loginPage({
      action: at(details.uid, '/login'),
      clientName: name,
      username,
      askTotp: Boolean(result.user?.totp) && result.reason === 'totp-invalid',
      error: FAILURE_TEXT[result.reason](options),
    });
    page(res, 401, title, html);
  }));

  router.post(`${basePath}/interaction/:uid/patient`, form, wrap(async (req, res) => {
    const details = await load(req, res);
    if (!details) return;
    if (details.prompt.name !== 'launch') {
      res.redirect(303, at(details.uid));
      return;
    }
    const user = await signedInUser(details);
    if (!user) throw new Error('launch prompt without a signed-in user');
    const body = (req.body ?? {}) as Record<string, unknown>;
    const clientId = String(details.params.client_id);
    const chosen = typeof body.patient === 'string' ? await patients.visible(user, clientId, body.patient, String(res.locals.requestId ?? '')) : undefined;
    if (!chosen) {
      await showPicker(req, res, details, 'That patient cannot be opened: choose one from the search results.');
      return;
    }
    // A fresh grant per launch, so the patient chosen now is the one in this app's token.
    const grant = new provider.Grant({ accountId: user.id, clientId });
    const grantId = await grant.save();
    await options.setLaunchPatient(grantId, chosen.id);
    await provider.interactionFinished(req, res, { launch: { patient: chosen.id }, consent: { grantId } }, { mergeWithLastSubmission: true });
  }));

  router.post(`${basePath}/interaction/:uid/consent`, form, wrap(async (req, res) => {
    const details = await load(req, res);
    if (!details) return;
    if (details.prompt.name !== 'consent') {
      res.redirect(303, at(details.uid));
      return;
    }
    const user = await signedInUser(details);
    if (!user) throw new Error('consent prompt without a signed-in user');
    const decision = (req.body as Record<string, unknown> | undefined)?.decision;
    if (decision !== 'allow') {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'The user did not allow the app access' }, { mergeWithLastSubmission: false });
      return;
    }
    const grantId = await grantConsent(details, user);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
  }));

  return router;
}
