// Immunization data-quality checks (CONTRACT.md "Rule codes" plus manufacturer-unknown,
// ndc-mvx-mismatch and recorded-before-vaccination). Code lookups are Map lookups in CodeSets;
// the Patient is read once (RuleContext.resolve is memoised per write).
import type { Coding, Immunization, Organization, Patient, Resource } from '@medplum/fhirtypes';
import type { RuleContext } from '../validation/business-rules.js';
import { systemKind, type CodeSets, type CvxInfo, type NdcInfo } from '../terminology/code-sets.js';
import { compareDates, isInFuture, parseFhirDate, type FhirDate } from './dates.js';
import type { Emit } from './emit.js';

interface KnownCoding<T> {
  index: number;
  coding: Coding;
  info: T;
}

export async function checkImmunization(imm: Immunization, ctx: RuleContext, codeSets: CodeSets, emit: Emit): Promise<void> {
  // Marking a record as an error must always be possible, however wrong the record was.
  if (imm.status === 'entered-in-error') return;
  const occurrence = parseFhirDate(imm.occurrenceDateTime);
  const when = imm.occurrenceDateTime;
  if (occurrence && isInFuture(occurrence, ctx.now)) {
    emit(
      'vaccination-date-in-future',
      'Immunization.occurrence',
      `The vaccination date ${when} is in the future: send the date the dose was given (today at the latest).`
    );
  }
  const patientCheck = checkPatientLink(imm, ctx, occurrence, emit);
  checkCodes(imm, occurrence, codeSets, emit);
  checkLot(imm, occurrence, emit);
  const recorded = parseFhirDate(imm.recorded);
  if (recorded && occurrence && compareDates(recorded, occurrence) < 0) {
    emit(
      'recorded-before-vaccination',
      'Immunization.recorded',
      `The record date ${imm.recorded} is before the vaccination date ${when}: check both dates.`
    );
  }
  await patientCheck;
}

// --- patient link and dates relative to the patient

async function checkPatientLink(imm: Immunization, ctx: RuleContext, occurrence: FhirDate | undefined, emit: Emit): Promise<void> {
  const ref = imm.patient?.reference;
  if (!ref) {
    emit(
      'patient-unknown',
      'Immunization.patient',
      'Immunization.patient has no reference: send the Patient first and reference it as Patient/<id> (or urn:uuid:… inside a transaction).'
    );
    return;
  }
  if (ref.startsWith('#')) {
    // A contained patient is no record of this registry: data sharing (keyed on Patient/<id>),
    // matching, forecasts and reminders never reach it, so the dose would escape all of them.
    emit(
      'patient-unknown',
      'Immunization.patient',
      `The patient ${ref} is a contained resource, not a patient of this registry: send the Patient first and reference it as Patient/<id> (or urn:uuid:… inside a transaction).`
    );
    return;
  }
  const patient = await resolvePatient(ref, ctx);
  if (!patient) {
    emit(
      'patient-unknown',
      'Immunization.patient',
      `The patient ${ref} is not on this server: create the Patient first (or in the same transaction) and reference its id.`
    );
    return;
  }
  const survivor = patient.active === false ? patient.link?.find((l) => l.type === 'replaced-by')?.other?.reference : undefined;
  if (survivor) {
    // $merge moved every dose of this record to the survivor; a dose stored here would be missing
    // from the child's history, forecast, reminders and coverage (they read the survivor).
    emit(
      'patient-merged',
      'Immunization.patient',
      `The patient ${ref} was merged into ${survivor} and is no longer used: record the dose for ${survivor}.`
    );
    return;
  }
  if (!occurrence) return;
  const birth = parseFhirDate(patient.birthDate);
  if (birth && compareDates(occurrence, birth) < 0) {
    emit(
      'vaccination-before-birth',
      'Immunization.occurrence',
      `The vaccination date ${imm.occurrenceDateTime} is before the patient's birth date ${patient.birthDate} (${ref}): correct the vaccination date or the patient reference.`
    );
  }
  const death = parseFhirDate(patient.deceasedDateTime);
  if (death && compareDates(occurrence, death) > 0) {
    emit(
      'vaccination-after-death',
      'Immunization.occurrence',
      `The vaccination date ${imm.occurrenceDateTime} is after the patient's date of death ${patient.deceasedDateTime} (${ref}): correct the vaccination date or the patient reference.`
    );
  }
}

// `Patient/<id>` at the end of an absolute URL, or before a version (`Patient/<id>/_history/2`,
// relative or absolute): the patient it names, whose current record the rules read.
const ABSOLUTE_PATIENT = /(?:^|\/)(Patient\/[A-Za-z0-9\-.]{1,64})(?:\/_history\/[^/]+)?$/;

async function resolvePatient(ref: string, ctx: RuleContext): Promise<Patient | undefined> {
  let resource: Resource | undefined = await ctx.resolve(ref);
  if (!resource) {
    const m = ABSOLUTE_PATIENT.exec(ref);
    if (m && m[1] !== ref) resource = await ctx.resolve(m[1]!);
  }
  return resource?.resourceType === 'Patient' ? resource : undefined;
}

// --- vaccine codes

function describeCvx(info: CvxInfo): string {
  return `CVX ${info.code} (${info.display})`;
}

function describeNdc(info: NdcInfo): string {
  return `NDC ${info.hyphenated}${info.display ? ` (${info.display})` : ''}`;
}

function checkCodes(imm: Immunization, occurrence: FhirDate | undefined, codeSets: CodeSets, emit: Emit): void {
  // Without code sets (deleted by an administrator) no code can be judged: never reject for that.
  if (!codeSets.hasVaccineCodes) return;
  const codings = imm.vaccineCode?.coding ?? [];
  const cvx: KnownCoding<CvxInfo>[] = [];
  const ndc: KnownCoding<NdcInfo>[] = [];
  const unknown: { index: number; coding: Coding; kind: 'cvx' | 'ndc' }[] = [];
  codings.forEach((coding, index) => {
    const kind = systemKind(coding.system);
    if ((kind !== 'cvx' && kind !== 'ndc') || !coding.code) return;
    if (kind === 'cvx') {
      const info = codeSets.cvx(coding.code);
      if (info) cvx.push({ index, coding, info });
      else unknown.push({ index, coding, kind });
    } else {
      const info = codeSets.ndc(coding.code);
      if (info) ndc.push({ index, coding, info });
      else unknown.push({ index, coding, kind });
    }
  });

  if (cvx.length === 0 && ndc.length === 0) {
    if (unknown.length === 0) {
      emit(
        'vaccine-code-unknown',
        'Immunization.vaccineCode',
        'The vaccine has no CVX (http://hl7.org/fhir/sid/cvx) or NDC (http://hl7.org/fhir/sid/ndc) coding: add the CVX code or the NDC of the vaccine given.'
      );
    }
    for (const u of unknown) {
      emit(
        'vaccine-code-unknown',
        `Immunization.vaccineCode.coding[${u.index}]`,
        u.kind === 'cvx'
          ? `CVX "${u.coding.code}" is not in the CDC CVX code set: send a current CVX code (see CodeSystem/cvx), or the product's NDC.`
          : `NDC "${u.coding.code}" is not a vaccine NDC in the CDC code set: check the digits on the package (10- or 11-digit form), or send the CVX code.`
      );
    }
    return;
  }

  checkNdcAgainstCvx(imm, cvx, ndc, emit);
  checkManufacturer(imm, ndc, codeSets, emit);
  if (occurrence && imm.status !== 'not-done') {
    checkCodesInUse(imm, occurrence, cvx, ndc, emit);
  }
}

function checkNdcAgainstCvx(imm: Immunization, cvx: KnownCoding<CvxInfo>[], ndc: KnownCoding<NdcInfo>[], emit: Emit): void {
  if (ndc.length === 0) return; // no NDC to check against the CVX sent (most doses: CVX only)
  const givenCvx = (imm.vaccineCode?.coding ?? [])
    .filter((c) => systemKind(c.system) === 'cvx' && c.code)
    .map((c) => (/^\d$/.test(c.code!.trim()) ? `0${c.code!.trim()}` : c.code!.trim()));
  if (givenCvx.length === 0) return;
  for (const n of ndc) {
    if (n.info.cvx.length === 0 || givenCvx.some((c) => n.info.cvx.includes(c))) continue;
    const sent = cvx.length > 0 ? cvx.map((c) => describeCvx(c.info)).join(', ') : `CVX ${givenCvx.join(', ')}`;
    emit(
      'ndc-cvx-mismatch',
      `Immunization.vaccineCode.coding[${n.index}]`,
      `${describeNdc(n.info)} is CVX ${n.info.cvx.join(' or ')}, but ${sent} was sent: send the CVX that matches the product, or correct the NDC.`
    );
  }
}

const MVX = 'http://hl7.org/fhir/sid/mvx';

/** The MVX code of Immunization.manufacturer: its identifier, or that of a contained Organization. */
function manufacturerMvx(imm: Immunization): { code: string; expression: string } | undefined {
  const m = imm.manufacturer;
  if (!m) return undefined;
  if (m.identifier?.value && systemKind(m.identifier.system) === 'mvx') {
    return { code: m.identifier.value, expression: 'Immunization.manufacturer.identifier' };
  }
  if (m.reference?.startsWith('#')) {
    const org = imm.contained?.find((r) => r.id === m.reference!.slice(1)) as Organization | undefined;
    const index = imm.contained?.findIndex((r) => r.id === m.reference!.slice(1)) ?? -1;
    const id = org?.resourceType === 'Organization' ? org.identifier?.find((i) => systemKind(i.system) === 'mvx' && i.value) : undefined;
    if (id?.value) return { code: id.value, expression: `Immunization.contained[${index}].identifier` };
  }
  return undefined;
}

function checkManufacturer(imm: Immunization, ndc: KnownCoding<NdcInfo>[], codeSets: CodeSets, emit: Emit): void {
  const mvx = manufacturerMvx(imm);
  if (!mvx) return;
  if (!codeSets.mvx(mvx.code)) {
    emit(
      'manufacturer-unknown',
      mvx.expression,
      `MVX "${mvx.code}" is not in the CDC MVX code set (${MVX}): send the manufacturer's current MVX code.`
    );
    return;
  }
  const code = mvx.code.trim().toUpperCase();
  for (const n of ndc) {
    if (n.info.mvx.length === 0 || n.info.mvx.includes(code)) continue;
    emit(
      'ndc-mvx-mismatch',
      mvx.expression,
      `${describeNdc(n.info)} is made by MVX ${n.info.mvx.join(' or ')}, but MVX ${code} was sent: correct the manufacturer or the NDC.`
    );
  }
}

function checkCodesInUse(imm: Immunization, occurrence: FhirDate, cvx: KnownCoding<CvxInfo>[], ndc: KnownCoding<NdcInfo>[], emit: Emit): void {
  const when = imm.occurrenceDateTime;
  for (const c of cvx) {
    const info = c.info;
    const expression = `Immunization.vaccineCode.coding[${c.index}]`;
    if (info.status === 'Never Active') {
      emit(
        'vaccine-code-inactive-for-date',
        expression,
        `${describeCvx(info)} was never in use (CDC status Never Active): send the CVX of the vaccine given.`
      );
    } else if (info.status === 'Pending') {
      emit(
        'vaccine-code-inactive-for-date',
        expression,
        `${describeCvx(info)} is not in use yet (CDC status Pending) on ${when}: send the CVX of the vaccine given.`
      );
    } else if (info.status === 'Inactive' && info.lastUpdated) {
      // Unspecified-formulation codes are meant for historical records (primarySource false).
      if (info.unspecified && imm.primarySource !== true) continue;
      if (compareDates(occurrence, { date: info.lastUpdated, precision: 'day' }) > 0) {
        emit(
          'vaccine-code-inactive-for-date',
          expression,
          `${describeCvx(info)} is Inactive in the CDC code set (status as of ${info.lastUpdated}) and was not in use on ${when}: ` +
            `send the code of the product given${info.unspecified ? ' (this unspecified-formulation code is for historical records only)' : ''}, or its NDC.`
        );
      }
    }
  }
  for (const n of ndc) {
    const info = n.info;
    const expression = `Immunization.vaccineCode.coding[${n.index}]`;
    if (info.startDate && compareDates(occurrence, { date: info.startDate, precision: 'day' }) < 0) {
      emit(
        'vaccine-code-inactive-for-date',
        expression,
        `${describeNdc(info)} was not on the market before ${info.startDate}, but the vaccination date is ${when}: check the NDC and the vaccination date.`
      );
    } else if (info.endDate && compareDates(occurrence, { date: info.endDate, precision: 'day' }) > 0) {
      emit(
        'vaccine-code-inactive-for-date',
        expression,
        `${describeNdc(info)} was distributed until ${info.endDate}, before the vaccination date ${when}: check the NDC and the vaccination date.`
      );
    }
  }
}

// --- lot

function checkLot(imm: Immunization, occurrence: FhirDate | undefined, emit: Emit): void {
  const administered = imm.primarySource === true && imm.status !== 'not-done';
  if (administered && (imm.lotNumber ?? '').trim() === '') {
    emit(
      'lot-number-missing',
      'Immunization.lotNumber',
      'The dose was administered here (primarySource true) but has no lotNumber: send the lot number printed on the vaccine package.'
    );
  }
  const expiry = parseFhirDate(imm.expirationDate);
  if (expiry && occurrence && compareDates(expiry, occurrence) < 0) {
    emit(
      'lot-expired',
      'Immunization.expirationDate',
      `The lot expired on ${imm.expirationDate}, before the vaccination date ${imm.occurrenceDateTime}: check the expiration date and the vaccination date (a dose from an expired lot may need to be repeated).`
    );
  }
}
