// The patient picker's searches, run as the signed-in user through the same pipeline as every
// FHIR request (scopes, data sharing, audit): a nurse sees only the patients her facility may see.
import type { Bundle, Patient } from '@medplum/fhirtypes';
import type { Caller } from '../auth/caller.js';
import { parseScopes } from '../auth/scopes.js';
import { isFhirError } from '../fhir/outcome.js';
import { callerForRoute } from '../pipeline/authorize.js';
import type { Pipeline } from '../pipeline/pipeline.js';
import type { PatientChoice } from './pages.js';
import { narrowScope } from './roles.js';
import { fhirUserOf, type User } from './users.js';

export interface PatientQuery {
  family?: string;
  given?: string;
  birthdate?: string;
}

/** The caller a signed-in user is in the pipeline, with the scope given (narrowed to the role). */
export function callerForUser(user: User, scope: string, extra: { clientId?: string; issuer?: string } = {}): Caller {
  const granted = narrowScope(user.role, scope);
  return {
    sub: user.id,
    ...(user.organization ? { organization: user.organization } : {}),
    ...(extra.clientId ? { clientId: extra.clientId } : {}),
    ...(extra.issuer ? { issuer: extra.issuer } : {}),
    fhirUser: fhirUserOf(user),
    role: user.role,
    scopes: parseScopes(granted),
    scope: granted,
  };
}

export class PatientLookup {
  constructor(
    private readonly pipeline: Pipeline,
    private readonly issuer: string
  ) {}

  /**
   * Whether the user may open a patient's record at all: the pipeline's own rule for a Patient
   * search (a `reports` user keeps no Patient rights outside reminder/recall and coverage).
   */
  mayOpenRecords(user: User, clientId: string): boolean {
    const caller = callerForRoute(this.caller(user, clientId), { interaction: 'search-type', resourceType: 'Patient' });
    return caller.scopes.some((s) => s.resourceType === 'Patient' || s.resourceType === '*');
  }

  /** Up to 20 patients matching the query that the user may see. */
  async search(user: User, clientId: string, query: PatientQuery, requestId: string): Promise<PatientChoice[]> {
    const params: Array<[string, string]> = [];
    if (query.family?.trim()) params.push(['family', query.family.trim()]);
    if (query.given?.trim()) params.push(['given', query.given.trim()]);
    if (query.birthdate?.trim()) params.push(['birthdate', query.birthdate.trim()]);
    params.push(['_count', '20']);
    const response = await this.pipeline.executeAs(this.caller(user, clientId), { method: 'GET', url: `Patient?${new URLSearchParams(params).toString()}`, requestId });
    const bundle = response.body as Bundle | undefined;
    return (bundle?.entry ?? [])
      .filter((e) => e.search?.mode !== 'outcome' && e.resource?.resourceType === 'Patient')
      .map((e) => choiceOf(e.resource as Patient));
  }

  /** The patient when the user may read it; undefined when hidden (data sharing), absent or deleted. */
  async visible(user: User, clientId: string, id: string, requestId: string): Promise<PatientChoice | undefined> {
    if (!/^[A-Za-z0-9\-.]{1,64}$/.test(id)) return undefined;
    try {
      const response = await this.pipeline.executeAs(this.caller(user, clientId), { method: 'GET', url: `Patient/${id}`, requestId });
      return response.body?.resourceType === 'Patient' ? choiceOf(response.body as Patient) : undefined;
    } catch (err) {
      if (isFhirError(err) && err.status < 500) return undefined;
      throw err;
    }
  }

  private caller(user: User, clientId: string): Caller {
    return callerForUser(user, 'user/Patient.rs', { clientId, issuer: this.issuer });
  }
}

function choiceOf(patient: Patient): PatientChoice {
  const name = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
  const text = name?.text ?? [...(name?.given ?? []), name?.family].filter(Boolean).join(' ');
  return {
    id: patient.id as string,
    name: text || `Patient ${patient.id}`,
    ...(patient.birthDate ? { birthDate: patient.birthDate } : {}),
    ...(patient.gender ? { gender: patient.gender } : {}),
  };
}
