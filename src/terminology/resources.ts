// CDC release data ⇄ the FHIR terminology resources the server stores:
//   CodeSystem/cvx                      http://hl7.org/fhir/sid/cvx (status, last-updated, vaccine groups)
//   CodeSystem/mvx                      http://hl7.org/fhir/sid/mvx
//   ConceptMap/ndc-unit-of-use-to-cvx   NDC (unit of use)  → CVX, with start/end dates, MVX, linked packages
//   ConceptMap/ndc-unit-of-sale-to-cvx  NDC (unit of sale) → CVX
//   ValueSet/vaccine-codes              every CVX and every NDC known to the server
//   ValueSet/cvx-active                 CVX codes with status Active
// The resources are the single source of truth: the in-memory CodeSets (code-sets.ts) is always
// rebuilt from them, whether they were seeded from profiles/codesets or PUT by `npm run codesets`.
import type {
  CodeSystem,
  CodeSystemConcept,
  CodeSystemConceptProperty,
  ConceptMap,
  ConceptMapGroupElement,
  Extension,
  ValueSet,
} from '@medplum/fhirtypes';
import type { CdcRelease, CvxEntry, MvxEntry, NdcEntry, NdcKind } from './cdc-files.js';
import { NDC_SYSTEM } from './ndc.js';

export const CVX_SYSTEM = 'http://hl7.org/fhir/sid/cvx';
export const CVX_SYSTEMS = [CVX_SYSTEM, 'urn:oid:2.16.840.1.113883.12.292'] as const;
export const MVX_SYSTEM = 'http://hl7.org/fhir/sid/mvx';
export const MVX_SYSTEMS = [MVX_SYSTEM, 'urn:oid:2.16.840.1.113883.12.227'] as const;

const BASE = 'https://iis-fhir-server.org/fhir';
export const EXT = {
  startDate: `${BASE}/StructureDefinition/ndc-start-date`,
  endDate: `${BASE}/StructureDefinition/ndc-end-date`,
  mvx: `${BASE}/StructureDefinition/ndc-mvx`,
  linked: `${BASE}/StructureDefinition/ndc-linked-package`,
  lastUpdated: `${BASE}/StructureDefinition/ndc-last-updated`,
} as const;

export const TERMINOLOGY_IDS = {
  cvx: 'cvx',
  mvx: 'mvx',
  unitOfUse: 'ndc-unit-of-use-to-cvx',
  unitOfSale: 'ndc-unit-of-sale-to-cvx',
  vaccineCodes: 'vaccine-codes',
  cvxActive: 'cvx-active',
} as const;

export const VACCINE_CODES_VALUESET = `${BASE}/ValueSet/${TERMINOLOGY_IDS.vaccineCodes}`;

/** The stored resource types that hold terminology (a write to one reloads the code sets). */
export const TERMINOLOGY_TYPES = ['CodeSystem', 'ValueSet', 'ConceptMap'] as const;

export type TerminologyResource = CodeSystem | ConceptMap | ValueSet;

const PUBLISHER = 'CDC National Center for Immunization and Respiratory Diseases (via immregistries/codebase)';
const SOURCE_NOTE =
  'Built by the IIS server from the CDC IIS code-set files (profiles/codesets/PROVENANCE.md, or a newer release loaded with `npm run codesets -- import`).';

/** The newest date among the entries, used as the resource version (the CDC release has no version). */
function releaseVersion(dates: (string | undefined)[]): string {
  let max = '';
  for (const d of dates) if (d && d > max) max = d;
  return max || 'unknown';
}

const CVX_PROPERTIES: NonNullable<CodeSystem['property']> = [
  { code: 'status', type: 'string', description: 'CDC status: Active, Inactive, Non-US, Never Active, Pending' },
  { code: 'lastUpdated', type: 'dateTime', description: 'When the CDC last changed this code (its status included)' },
  { code: 'inactive', uri: 'http://hl7.org/fhir/concept-properties#inactive', type: 'boolean', description: 'True unless the CDC status is Active' },
  { code: 'vaccineGroup', type: 'Coding', description: 'Vaccine group (CDC vac2vg): the group CVX, display = group name' },
  { code: 'notes', type: 'string', description: 'CDC notes' },
];

export function cvxCodeSystem(entries: CvxEntry[]): CodeSystem {
  return {
    resourceType: 'CodeSystem',
    id: TERMINOLOGY_IDS.cvx,
    url: CVX_SYSTEM,
    version: releaseVersion(entries.map((e) => e.lastUpdated)),
    name: 'CVX',
    title: 'CDC Vaccines Administered (CVX)',
    status: 'active',
    experimental: false,
    publisher: PUBLISHER,
    description: `CVX codes with their CDC status, last-update date and vaccine groups. ${SOURCE_NOTE}`,
    caseSensitive: true,
    content: 'complete',
    count: entries.length,
    property: CVX_PROPERTIES,
    concept: entries.map(cvxConcept),
  };
}

function cvxConcept(e: CvxEntry): CodeSystemConcept {
  const property: CodeSystemConceptProperty[] = [{ code: 'status', valueString: e.status }];
  if (e.lastUpdated) property.push({ code: 'lastUpdated', valueDateTime: e.lastUpdated });
  property.push({ code: 'inactive', valueBoolean: e.status !== 'Active' });
  for (const g of e.groups) {
    property.push({ code: 'vaccineGroup', valueCoding: { system: CVX_SYSTEM, ...(g.cvx ? { code: g.cvx } : {}), display: g.name } });
  }
  if (e.notes) property.push({ code: 'notes', valueString: e.notes });
  const concept: CodeSystemConcept = { code: e.code, display: e.shortDescription };
  if (e.fullName) concept.definition = e.fullName;
  concept.property = property;
  return concept;
}

export function mvxCodeSystem(entries: MvxEntry[]): CodeSystem {
  return {
    resourceType: 'CodeSystem',
    id: TERMINOLOGY_IDS.mvx,
    url: MVX_SYSTEM,
    version: releaseVersion(entries.map((e) => e.lastUpdated)),
    name: 'MVX',
    title: 'CDC Manufacturers of Vaccines (MVX)',
    status: 'active',
    experimental: false,
    publisher: PUBLISHER,
    description: `MVX codes with their CDC status and last-update date. ${SOURCE_NOTE}`,
    caseSensitive: true,
    content: 'complete',
    count: entries.length,
    property: [
      { code: 'status', type: 'string', description: 'CDC status: Active, Inactive' },
      { code: 'lastUpdated', type: 'dateTime', description: 'When the CDC last changed this code' },
      { code: 'inactive', uri: 'http://hl7.org/fhir/concept-properties#inactive', type: 'boolean', description: 'True unless Active' },
      { code: 'notes', type: 'string', description: 'CDC notes' },
    ],
    concept: entries.map((e) => {
      const property: CodeSystemConceptProperty[] = [{ code: 'status', valueString: e.status }];
      if (e.lastUpdated) property.push({ code: 'lastUpdated', valueDateTime: e.lastUpdated });
      property.push({ code: 'inactive', valueBoolean: e.status !== 'Active' });
      if (e.notes) property.push({ code: 'notes', valueString: e.notes });
      return { code: e.code, display: e.name, property };
    }),
  };
}

export function ndcConceptMap(kind: NdcKind, entries: NdcEntry[], cvxDisplay: (code: string) => string | undefined): ConceptMap {
  const use = kind === 'unitOfUse';
  const id = use ? TERMINOLOGY_IDS.unitOfUse : TERMINOLOGY_IDS.unitOfSale;
  const mine = entries.filter((e) => e.kind === kind).sort((a, b) => a.ndc11.localeCompare(b.ndc11));
  return {
    resourceType: 'ConceptMap',
    id,
    url: `${BASE}/ConceptMap/${id}`,
    version: releaseVersion(mine.map((e) => e.lastUpdated)),
    name: use ? 'NdcUnitOfUseToCvx' : 'NdcUnitOfSaleToCvx',
    title: `CDC NDC ${use ? 'unit of use' : 'unit of sale'} to CVX`,
    status: 'active',
    experimental: false,
    publisher: PUBLISHER,
    description:
      `Vaccine NDCs (${use ? 'unit of use: the dose package' : 'unit of sale: the carton'}, 11-digit 5-4-2 form) to CVX, ` +
      `with the product's start and end dates, MVX and linked packages as extensions. ${SOURCE_NOTE}`,
    sourceUri: NDC_SYSTEM,
    targetUri: CVX_SYSTEM,
    group: [
      {
        source: NDC_SYSTEM,
        target: CVX_SYSTEM,
        element: mine.map((e) => ndcElement(e, cvxDisplay)),
      },
    ],
  };
}

function ndcElement(e: NdcEntry, cvxDisplay: (code: string) => string | undefined): ConceptMapGroupElement {
  const extension: Extension[] = [];
  if (e.startDate) extension.push({ url: EXT.startDate, valueDate: e.startDate });
  if (e.endDate) extension.push({ url: EXT.endDate, valueDate: e.endDate });
  for (const m of e.mvx) extension.push({ url: EXT.mvx, valueCode: m });
  for (const l of e.linked) extension.push({ url: EXT.linked, valueCode: l });
  if (e.lastUpdated) extension.push({ url: EXT.lastUpdated, valueDate: e.lastUpdated });
  const element: ConceptMapGroupElement = { code: e.hyphenated };
  if (e.proprietaryName) element.display = e.proprietaryName;
  if (extension.length > 0) element.extension = extension;
  if (e.cvx.length > 0) {
    element.target = e.cvx.map((c) => {
      const display = cvxDisplay(c) ?? e.cvxDescription;
      return { code: c, ...(display ? { display } : {}), equivalence: 'wider' as const };
    });
  }
  return element;
}

export function vaccineCodesValueSet(): ValueSet {
  return {
    resourceType: 'ValueSet',
    id: TERMINOLOGY_IDS.vaccineCodes,
    url: VACCINE_CODES_VALUESET,
    version: '1',
    name: 'VaccineCodes',
    title: 'Vaccine codes known to this IIS (CVX and NDC)',
    status: 'active',
    experimental: false,
    publisher: 'IIS FHIR server contributors',
    description: 'Every CVX code and every vaccine NDC (unit of use and unit of sale) in the server\'s code sets. NDCs are accepted in 10- and 11-digit forms.',
    compose: { include: [{ system: CVX_SYSTEM }, { system: NDC_SYSTEM }] },
  };
}

export function cvxActiveValueSet(): ValueSet {
  return {
    resourceType: 'ValueSet',
    id: TERMINOLOGY_IDS.cvxActive,
    url: `${BASE}/ValueSet/${TERMINOLOGY_IDS.cvxActive}`,
    version: '1',
    name: 'CvxActive',
    title: 'Active CVX codes',
    status: 'active',
    experimental: false,
    publisher: 'IIS FHIR server contributors',
    description: 'CVX codes whose CDC status is Active.',
    compose: { include: [{ system: CVX_SYSTEM, filter: [{ property: 'status', op: '=', value: 'Active' }] }] },
  };
}

/** Every terminology resource of a (complete) CDC release. */
export function releaseResources(release: CdcRelease): TerminologyResource[] {
  const display = new Map(release.cvx.map((c) => [c.code, c.shortDescription]));
  const cvxDisplay = (code: string) => display.get(code);
  return [
    cvxCodeSystem(release.cvx),
    mvxCodeSystem(release.mvx),
    ndcConceptMap('unitOfUse', release.ndc, cvxDisplay),
    ndcConceptMap('unitOfSale', release.ndc, cvxDisplay),
    vaccineCodesValueSet(),
    cvxActiveValueSet(),
  ];
}
