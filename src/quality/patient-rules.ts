// Patient data-quality checks (CONTRACT.md "Rule codes" plus deceased-before-birth).
import type { HumanName, Patient } from '@medplum/fhirtypes';
import { compareDates, isInFuture, parseFhirDate, yearsBeforeToday } from './dates.js';
import type { Emit } from './emit.js';
import { isPlaceholderName, isTestName } from './names.js';

/** Birth dates further back than this are data-entry errors. */
export const MAX_AGE_YEARS = 125;

export function checkPatient(patient: Patient, now: Date, emit: Emit): void {
  checkBirthDate(patient, now, emit);
  checkNames(patient, emit);
  if (patient.multipleBirthBoolean === true) {
    const hint = (patient.name ?? []).map((n) => isPlaceholderName(n).birthOrder).find((o) => o !== undefined);
    emit(
      'multiple-birth-order-missing',
      'Patient.multipleBirth',
      'The patient is part of a multiple birth (multipleBirthBoolean true) but the birth order is missing: ' +
        `send multipleBirthInteger instead (1 for the first-born, 2 for the second…)${hint ? `; the name suggests birth order ${hint}` : ''}.`
    );
  }
}

function checkBirthDate(patient: Patient, now: Date, emit: Emit): void {
  if (patient.birthDate === undefined) {
    emit('birthdate-missing', 'Patient.birthDate', 'The patient has no birthDate: send the date of birth (YYYY-MM-DD).');
    return;
  }
  const birth = parseFhirDate(patient.birthDate);
  if (!birth) return; // malformed dates are structural errors, reported by the validator
  if (isInFuture(birth, now)) {
    emit('birthdate-in-future', 'Patient.birthDate', `The birthDate ${patient.birthDate} is in the future: send the patient's real date of birth.`);
  }
  const cutoff = yearsBeforeToday(now, MAX_AGE_YEARS);
  if (compareDates(birth, { date: cutoff, precision: 'day' }) < 0) {
    emit(
      'birthdate-implausible',
      'Patient.birthDate',
      `The birthDate ${patient.birthDate} is more than ${MAX_AGE_YEARS} years ago (before ${cutoff}): check the year of birth.`
    );
  }
  const death = parseFhirDate(patient.deceasedDateTime);
  if (death && compareDates(death, birth) < 0) {
    emit(
      'deceased-before-birth',
      'Patient.deceased',
      `The deceasedDateTime ${patient.deceasedDateTime} is before the birthDate ${patient.birthDate}: correct one of the two dates.`
    );
  }
}

function nameText(name: HumanName): string {
  return [...(name.given ?? []), name.family ?? ''].join(' ').replace(/\s+/g, ' ').trim() || (name.text ?? '');
}

function checkNames(patient: Patient, emit: Emit): void {
  const names = (patient.name ?? []).map((name, index) => ({ name, index })).filter(({ name }) => name.use !== 'old');
  if (names.length === 0) {
    emit('name-missing', 'Patient.name', "The patient has no name: send the patient's family name and given name.");
    return;
  }
  const first = names[0]!.index;
  if (!names.some(({ name }) => (name.family ?? '').trim() !== '')) {
    emit('name-missing', `Patient.name[${first}].family`, "The patient's name has no family name: send the family (last) name.");
  }
  // A repetition can be null (FHIR JSON writes a missing first given name as null beside its _given).
  if (!names.some(({ name }) => (name.given ?? []).some((g) => (g ?? '').trim() !== ''))) {
    emit(
      'name-missing',
      `Patient.name[${first}].given`,
      "The patient's name has no given name: send the given (first) name, or a temporary newborn name such as \"Baby Girl\" if the child is not named yet."
    );
  }
  for (const { name, index } of names) {
    const placeholder = isPlaceholderName(name);
    if (placeholder.placeholder) {
      emit(
        'placeholder-name',
        `Patient.name[${index}]`,
        `${placeholder.reason}: the record is kept; send the child's legal name when it is known (the record is updated, not duplicated).`
      );
    }
    const test = isTestName(name);
    if (test.test) {
      emit(
        'test-patient-name',
        `Patient.name[${index}]`,
        `The name "${nameText(name)}" looks like test data (${test.reason}): do not send test records to the registry, or correct the name.`
      );
    }
  }
}
