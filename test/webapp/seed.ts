// Seeded registry for the browser tests: two clinics, a toddler whose doses came from the other
// clinic, a patient whose data-sharing choice is Unknown, and a newborn pair for duplicate review.
import type { TestServer } from '../helpers/server.js';

export const CLINIC = 'Organization/maple-pediatrics';
export const OTHER_CLINIC = 'Organization/riverside-family';

export function isoDaysAgo(days: number, from = new Date()): string {
  const d = new Date(Date.UTC(from.getUTCFullYear(), from.getUTCMonth(), from.getUTCDate()));
  d.setUTCDate(d.getUTCDate() - days);
  return d.toISOString().slice(0, 10);
}

function addDays(date: string, days: number): string {
  const d = new Date(`${date}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + days);
  return d.toISOString().slice(0, 10);
}

export interface Seeded {
  ava: { id: string; birthDate: string; doses: number };
  /** New to this clinic: a toddler whose record so far comes only from the other clinic (the nurse story). */
  sofia: { id: string; birthDate: string; doses: number };
  noah: { id: string; birthDate: string };
  duplicate: { id: string; of: string };
  /** Twins the matcher takes for one child: the reviewer decides they are not the same child. */
  twin: { id: string; of: string };
}

async function ok(res: Promise<{ status: number; text: string; body: any }>): Promise<any> {
  const r = await res;
  if (r.status >= 300) throw new Error(`seed request failed ${r.status}: ${r.text}`);
  return r.body;
}

// A 13-month-old's infant doses (CVX, age in days, display).
const INFANT_DOSES: Array<[string, number, string]> = [
  ['08', 0, 'Hep B, adolescent or pediatric'],
  ['08', 61, 'Hep B, adolescent or pediatric'],
  ['20', 61, 'DTaP'],
  ['10', 61, 'IPV'],
  ['49', 61, 'Hib (PRP-OMP)'],
  ['133', 61, 'Pneumococcal conjugate PCV 13'],
  ['20', 122, 'DTaP'],
  ['10', 122, 'IPV'],
  ['49', 122, 'Hib (PRP-OMP)'],
  ['133', 122, 'Pneumococcal conjugate PCV 13'],
];

async function giveDoses(server: TestServer, patientId: string, birthDate: string, doses: Array<[string, number, string]>, performer: string, lotPrefix: string): Promise<void> {
  for (const [cvx, age, display] of doses) {
    await ok(
      server.fhir('POST', 'Immunization', {
        body: {
          resourceType: 'Immunization',
          status: 'completed',
          vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx, display }] },
          patient: { reference: `Patient/${patientId}` },
          occurrenceDateTime: addDays(birthDate, age),
          primarySource: true,
          lotNumber: `${lotPrefix}${cvx}${age}`,
          performer: [{ actor: { reference: performer } }],
        },
      })
    );
  }
}

export async function seedRegistry(server: TestServer): Promise<Seeded> {
  await ok(server.fhir('PUT', CLINIC, { body: { resourceType: 'Organization', id: 'maple-pediatrics', name: 'Maple Pediatrics', active: true } }));
  await ok(server.fhir('PUT', OTHER_CLINIC, { body: { resourceType: 'Organization', id: 'riverside-family', name: 'Riverside Family Health', active: true } }));

  // Ava: 13 months old; her infant doses were given at the other clinic.
  const avaBirth = isoDaysAgo(396);
  const ava = await ok(
    server.fhir('POST', 'Patient', {
      body: {
        resourceType: 'Patient',
        name: [{ use: 'official', family: 'Rivera', given: ['Ava', 'Lucia'] }],
        gender: 'female',
        birthDate: avaBirth,
        telecom: [{ system: 'phone', value: '413-555-0142' }],
        address: [{ line: ['12 Orchard Lane'], city: 'Amherst', state: 'MA', postalCode: '01002' }],
        managingOrganization: { reference: OTHER_CLINIC },
      },
    })
  );
  const doses: Array<[string, number, string]> = INFANT_DOSES;
  await giveDoses(server, ava.id, avaBirth, doses, OTHER_CLINIC, 'RF');

  // Sofia: the same age and history from the other clinic, new to this one (the end-to-end story).
  const sofia = await ok(
    server.fhir('POST', 'Patient', {
      body: {
        resourceType: 'Patient',
        name: [{ use: 'official', family: 'Marquez', given: ['Sofia'] }],
        gender: 'female',
        birthDate: avaBirth,
        telecom: [{ system: 'phone', value: '413-555-0187' }],
        address: [{ line: ['3 Mill Street'], city: 'Hadley', state: 'MA', postalCode: '01035' }],
        managingOrganization: { reference: OTHER_CLINIC },
      },
    })
  );
  await giveDoses(server, sofia.id, avaBirth, doses, OTHER_CLINIC, 'RS');

  // Mia: 30 months old, every childhood dose given at this clinic (the coverage measure's cohort).
  const miaBirth = isoDaysAgo(915);
  const mia = await ok(
    server.fhir('POST', 'Patient', {
      body: { resourceType: 'Patient', name: [{ use: 'official', family: 'Chen', given: ['Mia'] }], gender: 'female', birthDate: miaBirth, managingOrganization: { reference: CLINIC } },
    })
  );
  const childhood: Array<[string, number[]]> = [
    ['20', [61, 122, 183, 456]],
    ['10', [61, 122, 183]],
    ['49', [61, 122, 366]],
    ['08', [0, 30, 183]],
    ['133', [61, 122, 183, 366]],
    ['03', [366]],
    ['21', [366]],
  ];
  for (const [cvx, ages] of childhood) {
    for (const age of ages) {
      await ok(
        server.fhir('POST', 'Immunization', {
          body: {
            resourceType: 'Immunization',
            status: 'completed',
            vaccineCode: { coding: [{ system: 'http://hl7.org/fhir/sid/cvx', code: cvx }] },
            patient: { reference: `Patient/${mia.id}` },
            occurrenceDateTime: addDays(miaBirth, age),
            primarySource: true,
            lotNumber: `MP${cvx}${age}`,
            performer: [{ actor: { reference: CLINIC } }],
          },
        })
      );
    }
  }

  // Noah: the family was asked nothing yet (a proposed privacy Consent): his record stays closed.
  const noahBirth = isoDaysAgo(200);
  const noah = await ok(
    server.fhir('POST', 'Patient', {
      body: { resourceType: 'Patient', name: [{ use: 'official', family: 'Whitfield', given: ['Noah'] }], gender: 'male', birthDate: noahBirth, managingOrganization: { reference: CLINIC } },
    })
  );
  await ok(
    server.fhir('POST', 'Consent', {
      body: {
        resourceType: 'Consent',
        status: 'proposed',
        scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
        category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
        patient: { reference: `Patient/${noah.id}` },
        dateTime: `${isoDaysAgo(2)}T10:00:00Z`,
        organization: [{ reference: CLINIC }],
        policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
      },
    })
  );

  // A hospital's newborn record and the clinic's record of the same child: a probable match.
  const newbornBirth = isoDaysAgo(20);
  const household = {
    birthDate: newbornBirth,
    gender: 'male',
    address: [{ line: ['48 Birch Road'], city: 'Northampton', state: 'MA', postalCode: '01060' }],
    telecom: [{ system: 'phone', value: '413-555-0199' }],
    extension: [{ url: 'http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName', valueString: 'Adeyemi' }],
  };
  const hospital = await ok(
    server.fhir('POST', 'Patient', {
      body: {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14', value: 'MRN-77120' }],
        name: [{ family: 'Okafor', given: ['Baby Boy'] }],
        ...household,
      },
    })
  );
  const clinicRecord = await ok(
    server.fhir('POST', 'Patient', { body: { resourceType: 'Patient', name: [{ family: 'Okafor', given: ['Liam'] }], birthDate: newbornBirth, gender: 'male' } })
  );
  const tagged = (clinicRecord.meta?.tag ?? []).some((t: { code?: string }) => t.code === 'possible-duplicate');
  if (!tagged) throw new Error(`seed: the newborn pair was not flagged as a possible duplicate: ${JSON.stringify(clinicRecord)}`);

  // Twin girls: the hospital's record of one, the clinic's of the other (a look-alike pair that the
  // reviewer keeps apart). The clinic's record carries a tag of its own that must survive the review.
  const twinBirth = isoDaysAgo(45);
  const twinHospital = await ok(
    server.fhir('POST', 'Patient', {
      body: {
        resourceType: 'Patient',
        identifier: [{ system: 'urn:oid:1.2.840.114350.1.13.0.1.7.5.737384.14', value: 'MRN-80214' }],
        name: [{ family: 'Mensah', given: ['Baby Girl'] }],
        birthDate: twinBirth,
        gender: 'female',
        address: [{ line: ['7 Elm Street'], city: 'Amherst', state: 'MA', postalCode: '01002' }],
      },
    })
  );
  const twinClinic = await ok(
    server.fhir('POST', 'Patient', {
      body: {
        resourceType: 'Patient',
        meta: { tag: [{ system: 'https://example.org/clinic-flags', code: 'twin', display: 'Multiple birth' }] },
        name: [{ family: 'Mensah', given: ['Efua'] }],
        birthDate: twinBirth,
        gender: 'female',
      },
    })
  );
  if (!(twinClinic.meta?.tag ?? []).some((t: { code?: string }) => t.code === 'possible-duplicate')) {
    throw new Error(`seed: the twin pair was not flagged as a possible duplicate: ${JSON.stringify(twinClinic)}`);
  }

  return {
    twin: { id: twinClinic.id, of: twinHospital.id },
    ava: { id: ava.id, birthDate: avaBirth, doses: doses.length },
    sofia: { id: sofia.id, birthDate: avaBirth, doses: doses.length },
    noah: { id: noah.id, birthDate: noahBirth },
    duplicate: { id: clinicRecord.id, of: hospital.id },
  };
}
