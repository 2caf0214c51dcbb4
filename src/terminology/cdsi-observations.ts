// CodeSystem/cdsi-observation: CDC CDSi's patient observations (evidence of immunity,
// contraindications, risk indications — the codes a Condition carries for the forecast), built from
// the same supporting data XML the forecast engine reads (src/forecast, profiles/cdsi). Stored like
// the vaccine code sets so that clients read it (`GET CodeSystem/cdsi-observation`, as the clinic
// web app reads CodeSystem/cvx for its suggestions) and `$lookup` / `$validate-code` know the codes.
// The supporting data stays the source of truth: on start the stored copy is written again when the
// supporting data files changed (a new CDC release replaces the XML, and with it this); their
// SHA-256 is the CodeSystem's version, so an unchanged start reads one record and parses nothing.
import type { CodeSystem, CodeSystemConcept, CodeSystemConceptProperty } from '@medplum/fhirtypes';
import { CDCPHINVS_SYSTEMS, CDSI_OBSERVATION_SYSTEM, SNOMED_SYSTEM } from '../forecast/fhir.js';
import { defaultSupportingData, supportingDataFingerprint, type SupportingData } from '../forecast/supporting-data.js';
import { extractSearchIndex } from '../search/extract.js';
import { VersionConflictError, type Store } from '../store/store.js';

export const CDSI_OBSERVATION_ID = 'cdsi-observation';

/** What an observation means to the forecast: `kind` values of the CodeSystem's concepts. */
export const OBSERVATION_KINDS = {
  immunity: 'Evidence of immunity',
  contraindication: 'Contraindication',
  indication: 'Risk indication',
} as const;
export type ObservationKind = keyof typeof OBSERVATION_KINDS;

const PROPERTIES: NonNullable<CodeSystem['property']> = [
  { code: 'kind', type: 'code', description: `How the forecast uses it: ${Object.entries(OBSERVATION_KINDS).map(([code, text]) => `${code} (${text})`).join(', ')}` },
  { code: 'antigen', type: 'string', description: 'A CDSi antigen (target disease) the observation applies to' },
  { code: 'mappedCode', type: 'Coding', description: 'A SNOMED CT or CDC PHIN VADS code the supporting data maps to this observation' },
];

/** Per observation code: its kinds and antigens, from the antigens' immunity, contraindication and indication lists. */
function usesOf(data: SupportingData): Map<string, { kinds: Set<ObservationKind>; antigens: Set<string> }> {
  const uses = new Map<string, { kinds: Set<ObservationKind>; antigens: Set<string> }>();
  const note = (code: string, kind: ObservationKind, antigen: string) => {
    if (!data.observations.has(code)) return;
    const use = uses.get(code) ?? { kinds: new Set(), antigens: new Set() };
    use.kinds.add(kind);
    use.antigens.add(antigen);
    uses.set(code, use);
  };
  for (const antigen of data.antigens.values()) {
    for (const code of antigen.immunityObservationCodes) note(code, 'immunity', antigen.name);
    for (const c of antigen.groupContraindications) note(c.code, 'contraindication', antigen.name);
    for (const c of antigen.vaccineContraindications) note(c.code, 'contraindication', antigen.name);
    for (const series of antigen.series) for (const i of series.indications) note(i.code, 'indication', antigen.name);
  }
  return uses;
}

function mappedSystem(codeSystem: string): string | undefined {
  const upper = codeSystem.toUpperCase();
  if (upper === 'SNOMED') return SNOMED_SYSTEM;
  if (upper === 'CDCPHINVS') return CDCPHINVS_SYSTEMS[0];
  return undefined;
}

/** Where the observations come from: the supporting data's version (fingerprint) and, parsed when needed, the data. */
export interface ObservationSource {
  version: string;
  data: () => SupportingData;
}

/** The supporting data shipped in profiles/cdsi, the one the forecast engine reads. */
export function shippedObservationSource(): ObservationSource {
  return { version: supportingDataFingerprint(), data: defaultSupportingData };
}

export function cdsiObservationCodeSystem(source: ObservationSource = shippedObservationSource()): CodeSystem {
  const data = source.data();
  const uses = usesOf(data);
  const concept: CodeSystemConcept[] = [...data.observations.values()]
    .sort((a, b) => a.code.localeCompare(b.code))
    .map((o) => {
      const use = uses.get(o.code);
      const property: CodeSystemConceptProperty[] = [
        ...[...(use?.kinds ?? [])].sort().map((kind) => ({ code: 'kind', valueCode: kind })),
        ...[...(use?.antigens ?? [])].sort().map((antigen) => ({ code: 'antigen', valueString: antigen })),
        ...o.codedValues.flatMap((v) => {
          const system = mappedSystem(v.codeSystem);
          return system && v.code ? [{ code: 'mappedCode', valueCoding: { system, code: v.code } }] : [];
        }),
      ];
      return { code: o.code, display: o.title, ...(property.length > 0 ? { property } : {}) };
    });
  return {
    resourceType: 'CodeSystem',
    id: CDSI_OBSERVATION_ID,
    url: CDSI_OBSERVATION_SYSTEM,
    version: `sha256:${source.version}`,
    name: 'CdsiObservation',
    title: 'CDC CDSi patient observations',
    status: 'active',
    experimental: false,
    publisher: 'CDC National Center for Immunization and Respiratory Diseases (CDSi supporting data)',
    description:
      'Observations the CDSi forecast reads from a Condition.code: evidence of immunity, contraindications and risk indications. Built by the IIS server from the CDSi supporting data it forecasts with (profiles/cdsi/PROVENANCE.md).',
    caseSensitive: true,
    content: 'complete',
    count: concept.length,
    property: PROPERTIES,
    concept,
  };
}

/**
 * Writes CodeSystem/cdsi-observation when the store lacks it or holds one built from other
 * supporting data (another version). Answers whether it wrote. Safe with several processes starting
 * at once: the write is conditional on the version read, and a process that loses the race leaves it.
 */
export async function syncCdsiObservations(store: Store, source: ObservationSource = shippedObservationSource()): Promise<boolean> {
  const current = await store.read('CodeSystem', CDSI_OBSERVATION_ID);
  const live = current && !current.deleted ? (current.resource as CodeSystem | undefined) : undefined;
  if (live && live.version === `sha256:${source.version}`) return false;
  const built = cdsiObservationCodeSystem(source);
  try {
    await store.write({
      resourceType: 'CodeSystem',
      id: CDSI_OBSERVATION_ID,
      resource: built,
      ifVersion: live ? current!.versionId : 'absent',
      index: extractSearchIndex(built),
    });
    return true;
  } catch (err) {
    if (err instanceof VersionConflictError) return false;
    throw err;
  }
}
