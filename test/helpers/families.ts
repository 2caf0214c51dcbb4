// Shared by the family matching tests over HTTP (matching-families*.test.ts): a household's facts
// and the Patient fields a hospital or clinic record of one of its children carries.
export const MOTHERS_MAIDEN_NAME = 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName';
export const MR = { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] };

export interface Household {
  line: string;
  zip: string;
  phone: string;
  maiden: string;
}

export type HouseholdFact = 'address' | 'phone' | 'maiden';
export const ALL_HOUSEHOLD_FACTS: readonly HouseholdFact[] = ['address', 'phone', 'maiden'];

/** Birth date, sex, the chosen household facts and the birth order (when known) of a child's record. */
export function childRecord(child: { gender: 'male' | 'female'; household: Household; order?: number }, birthDate: string, facts: readonly HouseholdFact[] = ALL_HOUSEHOLD_FACTS) {
  return {
    resourceType: 'Patient',
    birthDate,
    gender: child.gender,
    ...(facts.includes('address') ? { address: [{ line: [child.household.line], city: 'Springfield', state: 'IL', postalCode: child.household.zip }] } : {}),
    ...(facts.includes('phone') ? { telecom: [{ system: 'phone', value: child.household.phone }] } : {}),
    ...(facts.includes('maiden') ? { extension: [{ url: MOTHERS_MAIDEN_NAME, valueString: child.household.maiden }] } : {}),
    ...(child.order !== undefined ? { multipleBirthInteger: child.order } : {}),
  };
}
