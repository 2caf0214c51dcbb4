import type { OperationOutcomeIssue } from '@medplum/fhirtypes';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  MAX_DEPTH,
  isMalformedRequestIssue,
  validateResource,
  warmUpValidation,
} from './validate-resource.js';
import {
  clone,
  validConsent,
  validGroup,
  validImmunization,
  validOrganization,
  validPatient,
} from './test-fixtures.js';

beforeAll(() => warmUpValidation());

/** [severity, code, expression] of every issue, for compact assertions. */
function summary(issues: OperationOutcomeIssue[]): [string, string, string | undefined][] {
  return issues.map((i) => [i.severity, i.code, i.expression?.join(',')]);
}

/** The one issue at `expression` (fails when there is none or several). */
function issueAt(issues: OperationOutcomeIssue[], expression: string): OperationOutcomeIssue {
  const found = issues.filter((i) => i.expression?.includes(expression));
  expect(found, `issues at ${expression}: ${JSON.stringify(issues)}`).toHaveLength(1);
  return found[0];
}

function expectWellFormed(issues: OperationOutcomeIssue[]): void {
  for (const issue of issues) {
    expect(['error', 'warning', 'information', 'fatal']).toContain(issue.severity);
    expect(issue.code).toMatch(/^[a-z-]+$/);
    expect(typeof issue.diagnostics).toBe('string');
    expect(issue.diagnostics!.length).toBeGreaterThan(5);
    expect(issue.details?.text).toBe(issue.diagnostics);
  }
}

describe('valid resources', () => {
  it.each([
    ['Patient', validPatient],
    ['Immunization', validImmunization],
    ['Consent', validConsent],
    ['Organization', validOrganization],
    ['Group', validGroup],
  ])('%s passes with no issues', (type, resource) => {
    expect(validateResource(clone(resource), { resourceType: type })).toEqual([]);
    expect(validateResource(clone(resource), { resourceType: type, id: resource.id, requireId: true })).toEqual([]);
    const { id: _id, ...withoutId } = clone(resource);
    expect(validateResource(withoutId, { resourceType: type, forbidId: true })).toEqual([]);
  });

  it('does not modify the input', () => {
    const input = clone(validPatient);
    validateResource(input, { resourceType: 'Patient' });
    expect(input).toEqual(validPatient);
  });
});

describe('request shape', () => {
  it.each([
    ['an array', [validPatient]],
    ['null', null],
    ['a string', '{"resourceType":"Patient"}'],
    ['a number', 42],
  ])('rejects a body that is %s', (_label, body) => {
    const issues = validateResource(body, { resourceType: 'Patient' });
    expect(summary(issues)).toEqual([['error', 'structure', undefined]]);
    expect(isMalformedRequestIssue(issues[0])).toBe(true);
    expectWellFormed(issues);
  });

  it('requires resourceType', () => {
    const { resourceType: _rt, ...body } = clone(validPatient);
    const issues = validateResource(body, { resourceType: 'Patient' });
    expect(summary(issues)).toEqual([['error', 'required', 'Patient.resourceType']]);
    expect(isMalformedRequestIssue(issues[0])).toBe(true);
  });

  it('requires resourceType to be a string', () => {
    const issues = validateResource({ ...clone(validPatient), resourceType: ['Patient'] }, { resourceType: 'Patient' });
    expect(summary(issues)).toEqual([['error', 'structure', 'Patient.resourceType']]);
    expect(isMalformedRequestIssue(issues[0])).toBe(true);
  });

  it('rejects a resourceType other than the URL type', () => {
    const issues = validateResource(clone(validPatient), { resourceType: 'Immunization' });
    expect(summary(issues)).toEqual([['error', 'invalid', 'Immunization.resourceType']]);
    expect(issues[0].diagnostics).toContain('"Patient"');
    expect(isMalformedRequestIssue(issues[0])).toBe(true);
  });

  it('rejects an unknown resourceType', () => {
    const issues = validateResource({ resourceType: 'Vaccination' });
    expect(summary(issues)).toEqual([['error', 'value', 'Resource.resourceType']]);
    expect(validateResource({ resourceType: 'HumanName', family: 'x' })[0].code).toBe('value');
    expect(validateResource({ resourceType: 'DomainResource' })[0].code).toBe('value');
  });

  it('checks id syntax (422 class, not malformed)', () => {
    for (const id of ['has space', 'a/b', 'x'.repeat(65), 'ünï']) {
      const issues = validateResource({ ...clone(validPatient), id }, { resourceType: 'Patient' });
      expect(summary(issues)).toEqual([['error', 'value', 'Patient.id']]);
      expect(isMalformedRequestIssue(issues[0])).toBe(false);
    }
    expect(validateResource({ ...clone(validPatient), id: 'A-z.0'.padEnd(64, '9') })).toEqual([]);
  });

  it('requires the body id to equal the URL id on update', () => {
    const mismatch = validateResource(clone(validPatient), { resourceType: 'Patient', id: 'other' });
    expect(summary(mismatch)).toEqual([['error', 'invalid', 'Patient.id']]);
    expect(isMalformedRequestIssue(mismatch[0])).toBe(true);

    const { id: _id, ...noId } = clone(validPatient);
    const missing = validateResource(noId, { resourceType: 'Patient', id: 'pat-1' });
    expect(summary(missing)).toEqual([['error', 'required', 'Patient.id']]);
    expect(isMalformedRequestIssue(missing[0])).toBe(true);

    expect(summary(validateResource(noId, { resourceType: 'Patient', requireId: true }))).toEqual([
      ['error', 'required', 'Patient.id'],
    ]);
  });

  it('forbids an id when asked to', () => {
    const issues = validateResource(clone(validPatient), { resourceType: 'Patient', forbidId: true });
    expect(summary(issues)).toEqual([['error', 'invalid', 'Patient.id']]);
    expect(isMalformedRequestIssue(issues[0])).toBe(true);
  });
});

describe('empty and null values', () => {
  it('flags empty strings', () => {
    const p = clone(validPatient);
    p.name[0].family = '';
    p.name[0].given = ['Jane', ''];
    p.birthDate = '';
    const issues = validateResource(p, { resourceType: 'Patient' });
    expect(summary(issues)).toEqual([
      ['error', 'value', 'Patient.name[0].family'],
      ['error', 'value', 'Patient.name[0].given[1]'],
      ['error', 'value', 'Patient.birthDate'],
    ]);
    expectWellFormed(issues);
  });

  it('flags whitespace-only strings', () => {
    const p = clone(validPatient);
    p.name[0].family = '   ';
    p.telecom[0].value = '\t\n';
    const issues = validateResource(p, { resourceType: 'Patient' });
    expect(summary(issues)).toEqual([
      ['error', 'value', 'Patient.name[0].family'],
      ['error', 'value', 'Patient.telecom[0].value'],
    ]);
  });

  it('flags an empty id string', () => {
    const issues = validateResource({ ...clone(validPatient), id: '' });
    expect(summary(issues)).toEqual([['error', 'value', 'Patient.id']]);
  });

  it('flags empty objects', () => {
    const p = clone(validPatient);
    p.meta = {};
    p.contact = [{}];
    p.name[0].period = {};
    const issues = validateResource(p, { resourceType: 'Patient' });
    expect(summary(issues)).toEqual([
      ['error', 'structure', 'Patient.meta'],
      ['error', 'structure', 'Patient.name[0].period'],
      ['error', 'structure', 'Patient.contact[0]'],
    ]);
  });

  it('flags empty arrays', () => {
    const p = clone(validPatient);
    p.telecom = [];
    p.name[0].given = [];
    delete p.name[0]._given;
    const i = clone(validImmunization);
    i.vaccineCode.coding = [];
    expect(summary(validateResource(p))).toEqual([
      ['error', 'structure', 'Patient.name[0].given'],
      ['error', 'structure', 'Patient.telecom'],
    ]);
    expect(summary(validateResource(i))).toEqual([['error', 'structure', 'Immunization.vaccineCode.coding']]);
  });

  it('flags null property values', () => {
    const p = clone(validPatient);
    p.gender = null;
    p.name[0].family = null;
    expect(summary(validateResource(p))).toEqual([
      ['error', 'structure', 'Patient.name[0].family'],
      ['error', 'structure', 'Patient.gender'],
    ]);
  });

  it('flags nulls in arrays', () => {
    const p = clone(validPatient);
    p.identifier = [null];
    p.address[0].line = ['1 Main St', null];
    expect(summary(validateResource(p))).toEqual([
      ['error', 'structure', 'Patient.identifier[0]'],
      ['error', 'structure', 'Patient.address[0].line[1]'],
    ]);
  });

  it('accepts the primitive-extension null alignment, and only that', () => {
    // validPatient already has given: ['Jane','Q'], _given: [null, {...}]
    const ok = clone(validPatient);
    ok.name[0].given = ['Jane', null];
    ok.name[0]._given = [null, { extension: [{ url: 'http://example.org/x', valueString: 'unknown' }] }];
    expect(validateResource(ok)).toEqual([]);

    const bothNull = clone(validPatient);
    bothNull.name[0].given = ['Jane', null];
    bothNull.name[0]._given = [null, null];
    expect(summary(validateResource(bothNull))).toEqual([['error', 'structure', 'Patient.name[0].given[1]']]);

    const misaligned = clone(validPatient);
    misaligned.name[0]._given = [null];
    expect(summary(validateResource(misaligned))).toEqual([['error', 'structure', 'Patient.name[0].given']]);

    const orphanNull = clone(validPatient);
    delete orphanNull.name[0].given;
    orphanNull.name[0]._given = [null, { extension: [{ url: 'http://example.org/x', valueString: 'y' }] }];
    expect(summary(validateResource(orphanNull))).toEqual([['error', 'structure', 'Patient.name[0].given[0]']]);

    const emptyExtension = clone(validPatient);
    emptyExtension._birthDate = {};
    expect(summary(validateResource(emptyExtension))).toEqual([['error', 'structure', 'Patient.birthDate']]);
  });
});

describe('JSON shape', () => {
  it('flags an object where a string belongs (query-operator injection)', () => {
    const issues = validateResource({ resourceType: 'Patient', name: [{ family: { $ne: 1 } }] });
    expect(summary(issues)).toEqual([['error', 'structure', 'Patient.name[0].family']]);
    expect(issues[0].diagnostics).toContain('string');
  });

  it('flags an array where a single value belongs', () => {
    const issues = validateResource({ resourceType: 'Patient', birthDate: ['2020'] });
    expect(summary(issues)).toEqual([['error', 'structure', 'Patient.birthDate']]);
  });

  it('flags a single value where an array belongs', () => {
    const issues = validateResource({ resourceType: 'Patient', name: { family: 'Doe' } });
    expect(summary(issues)).toEqual([['error', 'structure', 'Patient.name']]);
  });

  it('flags a string where an object belongs', () => {
    const issues = validateResource({ resourceType: 'Patient', name: ['Jane Doe'] });
    expect(summary(issues)).toEqual([['error', 'structure', 'Patient.name[0]']]);
    const imm = clone(validImmunization);
    imm.patient = 'Patient/pat-1';
    expect(summary(validateResource(imm))).toEqual([['error', 'structure', 'Immunization.patient']]);
  });

  it('names choice elements by their FHIRPath name', () => {
    const imm = clone(validImmunization);
    imm.occurrenceDateTime = { $gt: '' };
    expect(summary(validateResource(imm))).toEqual([['error', 'structure', 'Immunization.occurrence']]);
    const missing = clone(validImmunization);
    delete missing.occurrenceDateTime;
    expect(summary(validateResource(missing))).toEqual([['error', 'structure', 'Immunization.occurrence']]);
  });

  it('keeps the medplum checks (wrong scalar type, formats, cardinality, unknown properties)', () => {
    const p = clone(validPatient);
    p.active = 'yes';
    p.birthDate = '2020-13-01';
    p.favouriteColour = 'blue';
    const issues = validateResource(p, { resourceType: 'Patient' });
    expect(summary(issues)).toEqual([
      ['error', 'structure', 'Patient.active'],
      ['error', 'structure', 'Patient.birthDate'],
      ['error', 'structure', 'Patient.favouriteColour'],
    ]);
    expectWellFormed(issues);
    const imm = clone(validImmunization);
    delete imm.patient;
    const missing = issueAt(validateResource(imm), 'Immunization.patient');
    expect(missing.code).toBe('structure');
    expect(missing.diagnostics).toContain('Immunization.patient');
  });

  it('puts medplum invariant text in diagnostics', () => {
    const p = clone(validPatient);
    p.contact = [{ gender: 'male' }];
    const issue = issueAt(validateResource(p), 'Patient.contact[0]');
    expect(issue.code).toBe('invariant');
    expect(issue.diagnostics).toContain('pat-1');
    expect(issue.details?.text).toBe(issue.diagnostics);
  });
});

describe('required bindings', () => {
  it.each([
    ['Immunization.status', validImmunization, (r: any): unknown => (r.status = 'bogus'), 'Immunization.status'],
    ['Patient.gender', validPatient, (r: any): unknown => (r.gender = 'xx'), 'Patient.gender'],
    ['Identifier.use', validPatient, (r: any): unknown => (r.identifier[0].use = 'foo'), 'Patient.identifier[0].use'],
    ['HumanName.use', validPatient, (r: any): unknown => (r.name[0].use = 'legal'), 'Patient.name[0].use'],
    ['ContactPoint.system', validPatient, (r: any): unknown => (r.telecom[0].system = 'telex'), 'Patient.telecom[0].system'],
    ['ContactPoint.use', validPatient, (r: any): unknown => (r.telecom[0].use = 'cell'), 'Patient.telecom[0].use'],
    ['Address.use', validPatient, (r: any): unknown => (r.address[0].use = 'office'), 'Patient.address[0].use'],
    ['Address.type', validPatient, (r: any): unknown => (r.address[0].type = 'street'), 'Patient.address[0].type'],
    ['Narrative.status', validPatient, (r: any): unknown => (r.text.status = 'draft'), 'Patient.text.status'],
    ['Patient.contact.gender', validPatient, (r: any): unknown => (r.contact[0].gender = 'F'), 'Patient.contact[0].gender'],
    ['Consent.status', validConsent, (r: any): unknown => (r.status = 'enabled'), 'Consent.status'],
    ['Consent.provision.type', validConsent, (r: any): unknown => (r.provision.provision[0].type = 'allow'), 'Consent.provision.provision[0].type'],
    ['Group.type', validGroup, (r: any): unknown => (r.type = 'people'), 'Group.type'],
    ['Quantity.comparator', validImmunization, (r: any): unknown => (r.doseQuantity.comparator = '~'), 'Immunization.doseQuantity.comparator'],
  ])('flags a bad %s code', (_label, resource, mutate, expression) => {
    const r = clone(resource);
    mutate(r);
    const issues = validateResource(r, { resourceType: r.resourceType });
    expect(summary(issues)).toEqual([['error', 'code-invalid', expression]]);
    expectWellFormed(issues);
  });

  it('names the value set and the allowed codes', () => {
    const issues = validateResource({ ...clone(validImmunization), status: 'bogus' });
    expect(issues[0].diagnostics).toContain('"bogus"');
    expect(issues[0].diagnostics).toContain('http://hl7.org/fhir/ValueSet/immunization-status');
    expect(issues[0].diagnostics).toContain('completed, entered-in-error, not-done');
  });

  it('accepts every code of the bound value sets', () => {
    for (const status of ['completed', 'entered-in-error', 'not-done']) {
      expect(validateResource({ ...clone(validImmunization), status })).toEqual([]);
    }
    for (const gender of ['male', 'female', 'other', 'unknown']) {
      expect(validateResource({ ...clone(validPatient), gender })).toEqual([]);
    }
    for (const use of ['usual', 'official', 'temp', 'secondary', 'old']) {
      const p = clone(validPatient);
      p.identifier[0].use = use;
      expect(validateResource(p)).toEqual([]);
    }
    for (const status of ['draft', 'proposed', 'active', 'rejected', 'inactive', 'entered-in-error']) {
      expect(validateResource({ ...clone(validConsent), status })).toEqual([]);
    }
    for (const type of ['person', 'animal', 'practitioner', 'device', 'medication', 'substance']) {
      expect(validateResource({ ...clone(validGroup), type })).toEqual([]);
    }
  });

  it('is case-sensitive', () => {
    expect(summary(validateResource({ ...clone(validPatient), gender: 'Female' }))).toEqual([
      ['error', 'code-invalid', 'Patient.gender'],
    ]);
  });

  it('checks bindings inside contained resources', () => {
    const imm = clone(validImmunization);
    imm.contained = [{ resourceType: 'Organization', id: 'o1', name: 'X', telecom: [{ system: 'pigeon', value: 'x' }] }];
    imm.performer[0].actor = { reference: '#o1' };
    expect(summary(validateResource(imm))).toEqual([['error', 'code-invalid', 'Immunization.contained[0].telecom[0].system']]);
  });

  it('leaves non-required bindings alone', () => {
    const imm = clone(validImmunization);
    imm.vaccineCode = { coding: [{ system: 'http://example.org/local', code: 'whatever' }] }; // example binding
    imm.route = { coding: [{ system: 'http://example.org/local', code: 'nasal-ish' }] }; // example binding
    expect(validateResource(imm)).toEqual([]);
  });

  it('skips required bindings to value sets that cannot be enumerated (mime types)', () => {
    const p = clone(validPatient);
    p.photo = [{ contentType: 'image/x-made-up', data: 'AAAA' }];
    expect(validateResource(p)).toEqual([]);
  });
});

describe('required bindings on CodeableConcept (R4: at least one coding from the value set)', () => {
  const system = 'http://terminology.hl7.org/CodeSystem/condition-clinical';
  const condition = (clinicalStatus: unknown) => ({
    resourceType: 'Condition',
    subject: { reference: 'Patient/pat-1' },
    clinicalStatus,
  });

  it('accepts a coding from the value set', () => {
    expect(validateResource(condition({ coding: [{ system, code: 'active' }] }))).toEqual([]);
  });

  it('accepts extra codings from other systems next to a valid one', () => {
    const cc = { coding: [{ system: 'http://snomed.info/sct', code: '55561003' }, { system, code: 'resolved' }] };
    expect(validateResource(condition(cc))).toEqual([]);
  });

  it('flags an unknown code of the bound system at that coding', () => {
    const cc = { coding: [{ system: 'http://snomed.info/sct', code: '55561003' }, { system, code: 'bogus' }] };
    expect(summary(validateResource(condition(cc)))).toEqual([['error', 'code-invalid', 'Condition.clinicalStatus.coding[1]']]);
  });

  it('flags codings that are all from other systems', () => {
    const cc = { coding: [{ system: 'http://snomed.info/sct', code: '55561003' }] };
    expect(summary(validateResource(condition(cc)))).toEqual([['error', 'code-invalid', 'Condition.clinicalStatus']]);
  });

  it('flags a right code without a system', () => {
    expect(summary(validateResource(condition({ coding: [{ code: 'active' }] })))).toEqual([
      ['error', 'code-invalid', 'Condition.clinicalStatus'],
    ]);
  });

  it('flags text without any coding', () => {
    expect(summary(validateResource(condition({ text: 'active' })))).toEqual([
      ['error', 'code-invalid', 'Condition.clinicalStatus'],
    ]);
  });
});

describe('all issues at once', () => {
  it('reports several problems of different kinds together', () => {
    const p = clone(validPatient);
    p.id = 'bad id';
    p.gender = 'xx';
    p.identifier[0].use = 'foo';
    p.name[0].family = { $ne: 1 };
    p.name[0].given = ['Jane', ''];
    p.birthDate = ['2020'];
    p.telecom = [];
    p.active = 'yes';
    p.unknownThing = 1;
    const issues = validateResource(p, { resourceType: 'Patient', id: 'bad id' });
    expect(summary(issues)).toEqual([
      ['error', 'value', 'Patient.id'],
      ['error', 'code-invalid', 'Patient.identifier[0].use'],
      ['error', 'structure', 'Patient.name[0].family'],
      ['error', 'value', 'Patient.name[0].given[1]'],
      ['error', 'structure', 'Patient.telecom'],
      ['error', 'code-invalid', 'Patient.gender'],
      ['error', 'structure', 'Patient.birthDate'],
      ['error', 'structure', 'Patient.active'],
      ['error', 'structure', 'Patient.unknownThing'],
    ]);
    expectWellFormed(issues);
  });

  it('reports the request-shape problems and the id problems together', () => {
    const issues = validateResource({ resourceType: 'Patient', id: 'a' }, { resourceType: 'Immunization', id: 'b' });
    expect(summary(issues)).toEqual([
      ['error', 'invalid', 'Immunization.resourceType'],
      ['error', 'invalid', 'Immunization.id'],
    ]);
  });

  it('reports each problem once (no medplum duplicate for what we already flagged)', () => {
    const p = clone(validPatient);
    p.name[0].family = '  ';
    p.gender = null;
    p.contact = [{}];
    const issues = validateResource(p);
    expect(issues).toHaveLength(3);
  });
});

describe('contained resources', () => {
  it('validates contained resources with their own type', () => {
    const imm = clone(validImmunization);
    imm.contained = [{ resourceType: 'Patient', id: 'p', gender: 'xx', name: [{ family: '' }] }];
    expect(summary(validateResource(imm))).toEqual([
      ['error', 'code-invalid', 'Immunization.contained[0].gender'],
      ['error', 'value', 'Immunization.contained[0].name[0].family'],
    ]);
  });

  it('flags contained resources without a usable resourceType and keeps validating the rest', () => {
    const imm = clone(validImmunization);
    imm.contained = [{ id: 'x', name: 'x' }, { resourceType: 'Nope', id: 'y' }];
    imm.status = 'bogus';
    imm.lotNumber = 7;
    expect(summary(validateResource(imm))).toEqual([
      ['error', 'code-invalid', 'Immunization.status'],
      ['error', 'required', 'Immunization.contained[0]'],
      ['error', 'value', 'Immunization.contained[1]'],
      ['error', 'structure', 'Immunization.lotNumber'],
    ]);
  });
});

describe('pathological input', () => {
  function nested(levels: number): Record<string, unknown> {
    const root: Record<string, unknown> = { resourceType: 'Patient' };
    let node = root;
    for (let i = 0; i < levels; i++) {
      const child: Record<string, unknown> = {};
      node.extension = [child];
      node = child;
    }
    return root;
  }

  it('rejects 10,000 levels of nesting with one issue, without a RangeError', () => {
    const issues = validateResource(nested(10_000), { resourceType: 'Patient' });
    expect(summary(issues)).toEqual([['error', 'structure', undefined]]);
    expect(issues[0].diagnostics).toContain(String(MAX_DEPTH));
    expect(isMalformedRequestIssue(issues[0])).toBe(true);
  });

  it('rejects deeply nested arrays', () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 10_000; i++) deep = [deep];
    const issues = validateResource({ resourceType: 'Patient', name: deep });
    expect(summary(issues)).toEqual([['error', 'structure', undefined]]);
  });

  it('accepts nesting up to the limit (then validates normally)', () => {
    // 2 levels per extension hop (array + object) plus the root object.
    const issues = validateResource(nested(Math.floor((MAX_DEPTH - 1) / 2)));
    expect(issues.every((i) => !isMalformedRequestIssue(i))).toBe(true);
  });

  it('rejects more than 100,000 nodes with one issue', () => {
    const given = Array.from({ length: 100_001 }, () => 'x');
    const issues = validateResource({ resourceType: 'Patient', name: [{ given }] });
    expect(summary(issues)).toEqual([['error', 'structure', undefined]]);
    expect(issues[0].diagnostics).toContain('100000');
  });

  it('survives a cyclic object', () => {
    const p: Record<string, any> = { resourceType: 'Patient', name: [{ family: 'x' }] };
    p.name[0].extension = [p];
    expect(() => validateResource(p)).not.toThrow();
    expect(summary(validateResource(p))).toEqual([['error', 'structure', undefined]]);
  });

  it('ignores prototype-looking keys safely', () => {
    const body = JSON.parse('{"resourceType":"Patient","__proto__":{"gender":"xx"},"constructor":"x"}');
    const issues = validateResource(body);
    expect(issues.every((i) => i.severity === 'error' && i.code === 'structure')).toBe(true);
    expect(({} as Record<string, unknown>).gender).toBeUndefined();
  });
});

describe('issue paths of the walk (built only where an issue needs them)', () => {
  // Every primitive value of the fixtures, at any depth, broken one way: the walk's issue names
  // the element by its FHIRPath (choice keys by their element name, array items by index), and
  // medplum's own issue about the same value (named by the JSON key) is dropped, not repeated.
  type Step = string | number;
  const CHOICE_KEYS: Record<string, string> = {
    occurrenceDateTime: 'occurrence',
    multipleBirthBoolean: 'multipleBirth',
    doseNumberPositiveInt: 'doseNumber',
    seriesDosesPositiveInt: 'seriesDoses',
    valueBoolean: 'value',
  };
  function leaves(value: unknown, at: Step[] = []): Step[][] {
    if (Array.isArray(value)) return value.flatMap((item, i) => leaves(item, [...at, i]));
    if (value && typeof value === 'object') {
      return Object.entries(value).flatMap(([key, v]) =>
        // resourceType and id are the request's shape; `_x` twins and meta are not what this checks.
        at.length === 0 && (key === 'resourceType' || key === 'id' || key === 'meta') ? [] : key.startsWith('_') ? [] : leaves(v, [...at, key])
      );
    }
    return typeof value === 'string' ? [at] : [];
  }
  /** Every value's location (objects and arrays too), at any depth. */
  function locations(value: unknown, at: Step[] = []): Step[][] {
    const inner = Array.isArray(value)
      ? value.flatMap((item, i) => locations(item, [...at, i]))
      : value && typeof value === 'object'
        ? Object.entries(value).flatMap(([key, v]) => (key.startsWith('_') || (at.length === 0 && key === 'resourceType') ? [] : locations(v, [...at, key])))
        : [];
    return at.length === 0 ? inner : [at, ...inner];
  }
  function fhirPath(type: string, at: Step[], byKey = false): string {
    return at.reduce<string>((path, step) => (typeof step === 'number' ? `${path}[${step}]` : `${path}.${byKey ? step : (CHOICE_KEYS[step] ?? step)}`), type);
  }
  const fixtures = [validPatient, validImmunization, validConsent, validOrganization];
  const cases = fixtures.flatMap((fixture) => leaves(fixture).map((at) => ({ fixture, at })));
  const defects = [
    { value: '', code: 'value', text: 'is an empty string' },
    { value: '   ', code: 'value', text: 'holds only whitespace' },
    { value: { nested: true }, code: 'structure', text: 'not an object' },
  ];

  it('names the broken value by its FHIRPath, once', () => {
    expect(cases.length).toBeGreaterThan(40);
    fc.assert(
      fc.property(fc.constantFrom(...cases), fc.constantFrom(...defects), ({ fixture, at }, defect) => {
        const resource = clone(fixture);
        let parent = resource;
        for (const step of at.slice(0, -1)) parent = parent[step];
        parent[at[at.length - 1]] = defect.value;
        const type = resource.resourceType as string;
        const expected = fhirPath(type, at);
        const issues = validateResource(resource, { resourceType: type });
        const atValue = issues.filter((i) => i.diagnostics?.includes(defect.text));
        expect(summary(atValue), JSON.stringify(issues)).toEqual([['error', defect.code, expected]]);
        // medplum's issue about the same value is dropped, under either name of it
        const raw = fhirPath(type, at, true);
        expect(issues.filter((i) => i !== atValue[0] && (i.expression ?? []).some((e) => e === expected || e === raw))).toEqual([]);
      }),
      { numRuns: 300 }
    );
  });

  it('names a null array item by its path', () => {
    // (an item whose `_` twin carries it may be null: the fixtures' `_given`)
    const items = fixtures.flatMap((fixture) => locations(fixture).map((at) => ({ fixture, at }))).filter(({ fixture, at }) => {
      if (typeof at[at.length - 1] !== 'number') return false;
      let owner: Record<string, unknown> = fixture;
      for (const step of at.slice(0, -2)) owner = (owner as Record<string | number, Record<string, unknown>>)[step];
      return owner[`_${String(at[at.length - 2])}`] === undefined;
    });
    expect(items.length).toBeGreaterThan(10);
    fc.assert(
      fc.property(fc.constantFrom(...items), ({ fixture, at }) => {
        const resource = clone(fixture);
        let parent = resource;
        for (const step of at.slice(0, -1)) parent = parent[step];
        parent[at[at.length - 1]] = null;
        const type = resource.resourceType as string;
        const nulls = validateResource(resource, { resourceType: type }).filter((i) => i.diagnostics?.includes('arrays must not contain nulls'));
        expect(summary(nulls)).toEqual([['error', 'structure', fhirPath(type, at)]]);
      })
    );
  });
});

describe('references by absolute URL', () => {
  it('reads the type of an absolute reference from its path, not its scheme', () => {
    const imm = clone(validImmunization);
    imm.patient = { reference: 'https://iis.example.org/base/fhir/Patient/p-1' };
    imm.performer[0].actor = { reference: 'http://other.example.org/fhir/Organization/o-1/_history/2' };
    imm.extension = [{ url: 'http://example.org/x', valueReference: { reference: 'https://iis.example.org/fhir/Patient/p-1' } }];
    expect(validateResource(imm, { resourceType: 'Immunization' })).toEqual([]);
    expect(imm.patient.reference).toBe('https://iis.example.org/base/fhir/Patient/p-1');
  });

  it('still warns when an absolute reference names a type the element does not allow, naming that type', () => {
    const imm = clone(validImmunization);
    imm.patient = { reference: 'https://iis.example.org/fhir/Organization/o-1' };
    const issues = validateResource(imm, { resourceType: 'Immunization' });
    const issue = issueAt(issues, 'Immunization.patient');
    expect(issue.severity).toBe('warning');
    expect(issue.diagnostics).toContain('Organization');
    expect(issue.diagnostics).not.toContain('https:');
  });
});

describe('times without a zone', () => {
  it('a dateTime with a time but no time zone (or no seconds) is a 422-class issue at the element', () => {
    const imm = clone(validImmunization);
    imm.occurrenceDateTime = '2020-07-01T10:00:00';
    imm.recorded = '2020-07-01T10:00Z';
    const issues = validateResource(imm, { resourceType: 'Immunization' });
    expect(summary(issues)).toEqual([
      ['error', 'value', 'Immunization.occurrence'],
      ['error', 'value', 'Immunization.recorded'],
    ]);
    expect(issues.some(isMalformedRequestIssue)).toBe(false);
    expect(issues[0].diagnostics).toContain('time zone');
    imm.occurrenceDateTime = '2020-07-01T10:00:00-05:00';
    imm.recorded = '2020-07-01';
    expect(validateResource(imm, { resourceType: 'Immunization' })).toEqual([]);
  });
});
