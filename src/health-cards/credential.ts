// The content of an immunization health card: a FHIR Bundle minimised as the SMART Health Cards
// vaccination profiles ask (https://vci.org/ig/vaccination-and-testing): the Patient's name and
// birth date; per dose its status, vaccine code, patient, date, lot and performer display. No
// ids, meta, text, narrative or code displays; references are `resource:N`. Pure: data in, data out.
import type { Bundle, BundleEntry, Coding, Immunization, Patient } from '@medplum/fhirtypes';

export const HEALTH_CARD = 'https://smarthealth.cards#health-card';
export const IMMUNIZATION_CARD = 'https://smarthealth.cards#immunization';

/**
 * Identity elements a card may carry (`includeIdentityClaim`); both by default. Not gender: the
 * vaccination IG's Patient profiles set it 0..0 ("SHALL not be included": it may change and then
 * not match the holder's identification, and a card cannot be updated).
 */
export const IDENTITY_CLAIMS = ['Patient.name', 'Patient.birthDate'] as const;
export type IdentityClaim = (typeof IDENTITY_CLAIMS)[number];

export interface CardContent {
  bundle: Bundle;
  /** Which stored resource each `resource:N` entry came from (Parameters.resourceLink). */
  links: Array<{ bundledResource: string; hostedResource: string }>;
}

/** Doses a card shows: given ones (completed). not-done and entered-in-error are not vaccinations. */
export function isCardDose(imm: Immunization): boolean {
  return imm.status === 'completed' && !!imm.occurrenceDateTime && !!imm.vaccineCode?.coding?.some((c) => c.system && c.code);
}

export function cardContent(
  patient: Patient,
  immunizations: Immunization[],
  options: { baseUrl: string; identity?: readonly IdentityClaim[]; performerName?: (imm: Immunization) => string | undefined }
): CardContent {
  const identity = new Set(options.identity ?? ['Patient.name', 'Patient.birthDate']);
  const minimalPatient: Patient = { resourceType: 'Patient' };
  if (identity.has('Patient.name')) {
    const names = (patient.name ?? []).filter((n) => n.use !== 'old' && (n.family || n.given?.length));
    const chosen = names.find((n) => n.use === 'official') ?? names[0];
    if (chosen) {
      const name: { family?: string; given?: string[] } = {};
      if (chosen.family) name.family = chosen.family;
      if (chosen.given?.length) name.given = chosen.given;
      minimalPatient.name = [name];
    }
  }
  if (identity.has('Patient.birthDate') && patient.birthDate) minimalPatient.birthDate = patient.birthDate;

  const doses = immunizations
    .filter(isCardDose)
    .sort((a, b) => (a.occurrenceDateTime as string).localeCompare(b.occurrenceDateTime as string) || (a.id ?? '').localeCompare(b.id ?? ''));
  const entry: BundleEntry[] = [{ fullUrl: 'resource:0', resource: minimalPatient }];
  const links: CardContent['links'] = [{ bundledResource: 'resource:0', hostedResource: `${options.baseUrl}/Patient/${patient.id}` }];
  doses.forEach((imm, i) => {
    const fullUrl = `resource:${i + 1}`;
    const dose: Immunization = {
      resourceType: 'Immunization',
      status: 'completed',
      vaccineCode: { coding: cardVaccineCodings(imm.vaccineCode.coding ?? []) },
      patient: { reference: 'resource:0' },
      // The date alone: the time of day adds bytes and nothing a verifier needs.
      occurrenceDateTime: (imm.occurrenceDateTime as string).slice(0, 10),
    };
    const performer = options.performerName?.(imm) ?? imm.performer?.find((p) => p.actor?.display)?.actor?.display;
    if (performer) dose.performer = [{ actor: { display: performer } }];
    if (imm.lotNumber) dose.lotNumber = imm.lotNumber;
    if (imm.isSubpotent) dose.isSubpotent = true;
    entry.push({ fullUrl, resource: dose });
    links.push({ bundledResource: fullUrl, hostedResource: `${options.baseUrl}/Immunization/${imm.id}` });
  });
  return { bundle: { resourceType: 'Bundle', type: 'collection', entry }, links };
}

const CVX = 'http://hl7.org/fhir/sid/cvx';
/** CVX by its HL7 v2 OID, as some senders write it: on a card, the URI verifiers know. */
const CVX_OID = 'urn:oid:2.16.840.1.113883.12.292';
/**
 * The code systems the vaccination IG's verifiers "SHALL be able to meaningfully process" in
 * vaccineCode (CVX, SNOMED CT, ICD-11 in both spellings, GTIN, AIR, ATC/DDD).
 */
const VERIFIER_SYSTEMS = new Set([
  CVX,
  'http://snomed.info/sct',
  'http://id.who.int/icd11/mms',
  'http://id.who.int/icd/release/11/mms',
  'https://www.gs1.org/gtin',
  'https://www.humanservices.gov.au/organisations/health-professionals/enablers/air-vaccine-code-formats',
  'http://www.whocc.no/atc',
]);

/**
 * A dose's vaccine codings as a card carries them: system and code only, CVX under its URI, and —
 * data minimization, the IG: "Issuers SHOULD typically include ONLY a single code … UNLESS they
 * believe another actor may benefit" — only the codings of the verifiers' systems when the dose has
 * one (an NDC or a local code next to the CVX adds bytes a verifier cannot use). A dose with none
 * of them keeps what it has.
 */
function cardVaccineCodings(codings: Coding[]): Coding[] {
  const minimal = codings
    .filter((c) => c && typeof c.system === 'string' && typeof c.code === 'string' && c.system && c.code)
    .map((c): Coding => ({ system: c.system === CVX_OID ? CVX : c.system, code: c.code }));
  const unique = minimal.filter((c, i) => minimal.findIndex((d) => d.system === c.system && d.code === c.code) === i);
  const readable = unique.filter((c) => VERIFIER_SYSTEMS.has(c.system!));
  return readable.length > 0 ? readable : unique;
}
