// Loading a newer CDC release into a running server (`npm run codesets -- import <dir>`):
// parse the files, read what the server holds over HTTP, compute what was added, changed and
// retired, and PUT the changed resources (If-Match on the version read, so two imports never
// overwrite each other silently). Every server process sees the new codes: the writing process at
// once (its store reloads the code sets before answering the PUT), others within their poll.
//
// Codes absent from the new files are never dropped: a CVX / MVX code is kept with status Inactive
// and an NDC mapping is kept as it was, so historical records that use them still validate. They
// are reported as retired.
import type { CodeSystem, CodeSystemConcept, ConceptMap, ConceptMapGroupElement } from '@medplum/fhirtypes';
import { readCdcDirectory, type CdcRelease, type CvxEntry, type MvxEntry, type NdcEntry, type NdcKind } from './cdc-files.js';
import { cvxCodeSystem, cvxActiveValueSet, EXT, mvxCodeSystem, ndcConceptMap, TERMINOLOGY_IDS, vaccineCodesValueSet, type TerminologyResource } from './resources.js';

export interface CodeDiff {
  /** CVX, MVX, NDC unit of use, NDC unit of sale, or a ValueSet. */
  name: string;
  resource: string;
  added: string[];
  changed: Array<{ code: string; what: string[] }>;
  retired: string[];
}

export interface ImportPlan {
  files: string[];
  /** Resources whose content differs from the server's (to PUT). */
  writes: TerminologyResource[];
  diffs: CodeDiff[];
}

/** The server's current terminology resources, by `Type/id` (absent when the server has none). */
export type CurrentResources = Map<string, TerminologyResource>;

const key = (r: { resourceType: string; id?: string }) => `${r.resourceType}/${r.id}`;

/** Plans an import of the CDC files in dir against what the server holds. */
export function planImport(dir: string, current: CurrentResources): ImportPlan {
  const release = readCdcDirectory(dir);
  if (release.files.length === 0) throw new Error(`No CDC code-set files (cvx.xml, mvx.xml, NDC_Unit_use.txt…) in ${dir}`);
  return planFromRelease(release, current);
}

export function planFromRelease(release: Partial<CdcRelease> & { files: string[] }, current: CurrentResources): ImportPlan {
  const next: TerminologyResource[] = [];
  const oldCvx = current.get(`CodeSystem/${TERMINOLOGY_IDS.cvx}`) as CodeSystem | undefined;
  const oldMvx = current.get(`CodeSystem/${TERMINOLOGY_IDS.mvx}`) as CodeSystem | undefined;
  let cvxResource = oldCvx;
  if (release.cvx) {
    const groupsGiven = release.files.includes('vac2vg.xml');
    cvxResource = cvxCodeSystem(keepRetiredCvx(release.cvx, oldCvx, groupsGiven));
    next.push(cvxResource);
  }
  if (release.mvx) next.push(mvxCodeSystem(keepRetiredMvx(release.mvx, oldMvx)));
  if (release.ndc) {
    const display = new Map((cvxResource?.concept ?? []).map((c) => [c.code, c.display]));
    const cvxDisplay = (code: string) => display.get(code);
    for (const kind of ['unitOfUse', 'unitOfSale'] as NdcKind[]) {
      const id = kind === 'unitOfUse' ? TERMINOLOGY_IDS.unitOfUse : TERMINOLOGY_IDS.unitOfSale;
      const old = current.get(`ConceptMap/${id}`) as ConceptMap | undefined;
      next.push(ndcConceptMap(kind, keepRetiredNdc(release.ndc, kind, old), cvxDisplay));
    }
  }
  // The value sets only name whole systems: written when the server lacks them.
  for (const vs of [vaccineCodesValueSet(), cvxActiveValueSet()]) if (!current.has(key(vs))) next.push(vs);

  const writes: TerminologyResource[] = [];
  const diffs: CodeDiff[] = [];
  for (const resource of next) {
    const old = current.get(key(resource));
    if (old && sameContent(old, resource)) continue;
    writes.push(resource);
    diffs.push(diffResources(old, resource));
  }
  return { files: release.files, writes, diffs };
}

/** CVX codes the server has but the new file lacks stay, marked Inactive (never dropped). */
function keepRetiredCvx(entries: CvxEntry[], old: CodeSystem | undefined, groupsGiven: boolean): CvxEntry[] {
  const oldByCode = new Map((old?.concept ?? []).map((c) => [c.code, c]));
  const out = entries.map((e) => {
    if (groupsGiven || e.groups.length > 0) return e;
    // A partial release without vac2vg.xml keeps the groups the server knows.
    const prev = oldByCode.get(e.code);
    const groups = (prev?.property ?? [])
      .filter((p) => p.code === 'vaccineGroup' && p.valueCoding)
      .map((p) => ({ name: p.valueCoding!.display ?? '', ...(p.valueCoding!.code ? { cvx: p.valueCoding!.code } : {}) }));
    return { ...e, groups };
  });
  const codes = new Set(entries.map((e) => e.code));
  for (const c of old?.concept ?? []) {
    if (codes.has(c.code)) continue;
    out.push({
      code: c.code,
      shortDescription: c.display ?? c.code,
      ...(c.definition ? { fullName: c.definition } : {}),
      notes: 'No longer in the CDC file; kept as Inactive so historical records still validate.',
      status: 'Inactive',
      ...(propValue(c, 'lastUpdated') ? { lastUpdated: propValue(c, 'lastUpdated')!.slice(0, 10) } : {}),
      groups: [],
    });
  }
  return out;
}

function keepRetiredMvx(entries: MvxEntry[], old: CodeSystem | undefined): MvxEntry[] {
  const codes = new Set(entries.map((e) => e.code));
  const out = [...entries];
  for (const c of old?.concept ?? []) {
    if (codes.has(c.code)) continue;
    out.push({ code: c.code, name: c.display ?? c.code, notes: 'No longer in the CDC file; kept as Inactive.', status: 'Inactive' });
  }
  return out;
}

/** NDCs the server maps but the new files lack stay as they were. */
function keepRetiredNdc(entries: NdcEntry[], kind: NdcKind, old: ConceptMap | undefined): NdcEntry[] {
  const mine = entries.filter((e) => e.kind === kind);
  const have = new Set(mine.map((e) => e.hyphenated));
  for (const el of old?.group?.flatMap((g) => g.element ?? []) ?? []) {
    if (!el.code || have.has(el.code)) continue;
    const digits = el.code.replace(/-/g, '');
    mine.push({
      ndc11: digits,
      hyphenated: el.code,
      kind,
      ...(el.display ? { proprietaryName: el.display } : {}),
      cvx: (el.target ?? []).map((t) => t.code!).filter(Boolean),
      ...(ext(el, EXT.startDate) ? { startDate: ext(el, EXT.startDate) } : {}),
      ...(ext(el, EXT.endDate) ? { endDate: ext(el, EXT.endDate) } : {}),
      mvx: exts(el, EXT.mvx),
      linked: exts(el, EXT.linked),
      ...(ext(el, EXT.lastUpdated) ? { lastUpdated: ext(el, EXT.lastUpdated) } : {}),
    });
  }
  return mine;
}

function ext(el: ConceptMapGroupElement, url: string): string | undefined {
  const e = el.extension?.find((x) => x.url === url);
  return e?.valueDate ?? e?.valueCode ?? e?.valueString;
}
function exts(el: ConceptMapGroupElement, url: string): string[] {
  return (el.extension ?? []).filter((x) => x.url === url).map((x) => x.valueCode ?? x.valueString ?? '').filter(Boolean);
}
function propValue(c: CodeSystemConcept, code: string): string | undefined {
  const p = c.property?.find((x) => x.code === code);
  return p?.valueString ?? p?.valueCode ?? p?.valueDateTime ?? (p?.valueBoolean !== undefined ? String(p.valueBoolean) : undefined);
}

/** Content equality, ignoring meta and text. */
export function sameContent(a: TerminologyResource, b: TerminologyResource): boolean {
  const strip = (r: TerminologyResource) => {
    const { meta: _m, text: _t, ...rest } = r as unknown as Record<string, unknown>;
    return rest;
  };
  return canonicalJson(strip(a)) === canonicalJson(strip(b));
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

/** Field → value summaries of one code, for change detection. */
function conceptFields(c: CodeSystemConcept): Map<string, string> {
  const f = new Map<string, string>();
  if (c.display) f.set('display', c.display);
  if (c.definition) f.set('definition', c.definition);
  const byCode = new Map<string, string[]>();
  for (const p of c.property ?? []) {
    const v = p.valueCoding
      ? `${p.valueCoding.code ?? ''} ${p.valueCoding.display ?? ''}`.trim()
      : String(p.valueString ?? p.valueCode ?? p.valueDateTime ?? p.valueBoolean ?? p.valueInteger ?? p.valueDecimal ?? '');
    byCode.set(p.code, [...(byCode.get(p.code) ?? []), v]);
  }
  for (const [k, v] of byCode) f.set(k, v.join(', '));
  return f;
}

function elementFields(el: ConceptMapGroupElement): Map<string, string> {
  const f = new Map<string, string>();
  if (el.display) f.set('display', el.display);
  const targets = (el.target ?? []).map((t) => t.code).join(', ');
  if (targets) f.set('cvx', targets);
  for (const e of el.extension ?? []) {
    const name = e.url.slice(e.url.lastIndexOf('/') + 1).replace(/^ndc-/, '');
    const v = e.valueDate ?? e.valueCode ?? e.valueString ?? '';
    f.set(name, f.has(name) ? `${f.get(name)}, ${v}` : v);
  }
  return f;
}

function diffFields(a: Map<string, string>, b: Map<string, string>): string[] {
  const out: string[] = [];
  for (const k of new Set([...a.keys(), ...b.keys()])) {
    if (a.get(k) !== b.get(k)) out.push(`${k}: ${a.get(k) ?? '—'} → ${b.get(k) ?? '—'}`);
  }
  return out;
}

const NAMES: Record<string, string> = {
  [`CodeSystem/${TERMINOLOGY_IDS.cvx}`]: 'CVX',
  [`CodeSystem/${TERMINOLOGY_IDS.mvx}`]: 'MVX',
  [`ConceptMap/${TERMINOLOGY_IDS.unitOfUse}`]: 'NDC unit of use',
  [`ConceptMap/${TERMINOLOGY_IDS.unitOfSale}`]: 'NDC unit of sale',
};

/** Added / changed / retired codes between two versions of a CodeSystem or ConceptMap. */
export function diffResources(old: TerminologyResource | undefined, next: TerminologyResource): CodeDiff {
  const diff: CodeDiff = { name: NAMES[key(next)] ?? key(next), resource: key(next), added: [], changed: [], retired: [] };
  const entries = (r: TerminologyResource | undefined): Map<string, Map<string, string>> => {
    const m = new Map<string, Map<string, string>>();
    if (r?.resourceType === 'CodeSystem') for (const c of r.concept ?? []) m.set(c.code, conceptFields(c));
    if (r?.resourceType === 'ConceptMap') for (const el of r.group?.flatMap((g) => g.element ?? []) ?? []) if (el.code) m.set(el.code, elementFields(el));
    return m;
  };
  const before = entries(old);
  const after = entries(next);
  for (const [code, fields] of after) {
    const prev = before.get(code);
    if (!prev) {
      diff.added.push(code);
      continue;
    }
    const what = diffFields(prev, fields);
    if (what.length === 0) continue;
    const wasActive = prev.get('status') === 'Active' || prev.get('inactive') === 'false';
    const isActive = fields.get('status') === 'Active' || fields.get('inactive') === 'false';
    const newlyEnded = !prev.get('end-date') && fields.get('end-date');
    if ((next.resourceType === 'CodeSystem' && wasActive && !isActive) || newlyEnded) diff.retired.push(code);
    diff.changed.push({ code, what });
  }
  for (const code of before.keys()) if (!after.has(code)) diff.retired.push(code);
  return diff;
}

/** The report `npm run codesets -- import` prints. */
export function formatPlan(plan: ImportPlan, applied: boolean): string {
  const lines: string[] = [`Files read: ${plan.files.join(', ')}`];
  if (plan.writes.length === 0) {
    lines.push('The server already holds these code sets: nothing to change.');
    return lines.join('\n');
  }
  for (const d of plan.diffs) {
    lines.push('', `${d.name} (${d.resource}): ${d.added.length} added, ${d.changed.length} changed, ${d.retired.length} retired`);
    if (d.added.length) lines.push(`  added:   ${d.added.join(', ')}`);
    if (d.retired.length) lines.push(`  retired: ${d.retired.join(', ')}`);
    for (const c of d.changed) lines.push(`  changed: ${c.code}: ${c.what.join('; ')}`);
  }
  lines.push('', applied ? `Written to the server: ${plan.writes.map(key).join(', ')}` : `Dry run: would write ${plan.writes.map(key).join(', ')}`);
  return lines.join('\n');
}

// --- over HTTP

export interface ImportOptions {
  dir: string;
  /** The FHIR base, e.g. http://localhost:8080/fhir */
  fhirBase: string;
  token: string;
  dryRun?: boolean;
}

export interface ImportResult {
  plan: ImportPlan;
  report: string;
}

const TRACKED: Array<[string, string]> = [
  ['CodeSystem', TERMINOLOGY_IDS.cvx],
  ['CodeSystem', TERMINOLOGY_IDS.mvx],
  ['ConceptMap', TERMINOLOGY_IDS.unitOfUse],
  ['ConceptMap', TERMINOLOGY_IDS.unitOfSale],
  ['ValueSet', TERMINOLOGY_IDS.vaccineCodes],
  ['ValueSet', TERMINOLOGY_IDS.cvxActive],
];

export async function importCodeSets(options: ImportOptions): Promise<ImportResult> {
  const base = options.fhirBase.replace(/\/+$/, '');
  const headers = { authorization: `Bearer ${options.token}`, accept: 'application/fhir+json' };
  const current: CurrentResources = new Map();
  const versions = new Map<string, string>();
  for (const [type, id] of TRACKED) {
    const res = await fetch(`${base}/${type}/${id}`, { headers });
    if (res.status === 404 || res.status === 410) continue;
    if (!res.ok) throw new Error(`GET ${type}/${id}: HTTP ${res.status} ${await res.text()}`);
    const resource = (await res.json()) as TerminologyResource;
    current.set(`${type}/${id}`, resource);
    if (resource.meta?.versionId) versions.set(`${type}/${id}`, resource.meta.versionId);
  }
  const plan = planImport(options.dir, current);
  if (!options.dryRun) {
    for (const resource of plan.writes) {
      const version = versions.get(key(resource));
      const res = await fetch(`${base}/${key(resource)}`, {
        method: 'PUT',
        headers: {
          ...headers,
          'content-type': 'application/fhir+json',
          prefer: 'return=minimal',
          ...(version ? { 'if-match': `W/"${version}"` } : {}),
        },
        body: JSON.stringify(resource),
      });
      if (!res.ok) throw new Error(`PUT ${key(resource)}: HTTP ${res.status} ${await res.text()}`);
    }
  }
  return { plan, report: formatPlan(plan, !options.dryRun) };
}
