// The in-memory view of the stored terminology resources that rules and terminology operations
// read: every lookup is a Map lookup. `CodeSets` is a live holder: `load()` swaps in a new index
// built from the current CodeSystem / ValueSet / ConceptMap resources, so rules holding a reference
// see a code-set import at once.
import type {
  CodeSystem,
  CodeSystemConcept,
  ConceptMap,
  Resource,
  ValueSet,
  ValueSetComposeInclude,
} from '@medplum/fhirtypes';
import { CVX_STATUSES, type CvxStatus, type NdcKind } from './cdc-files.js';
import { NDC_SYSTEMS, ndcCandidates } from './ndc.js';
import { CVX_SYSTEM, CVX_SYSTEMS, EXT, MVX_SYSTEM, MVX_SYSTEMS, TERMINOLOGY_IDS } from './resources.js';

export interface CvxInfo {
  code: string;
  display: string;
  status: CvxStatus;
  /** YYYY-MM-DD: the CDC's last change to the code (its status included). */
  lastUpdated?: string;
  groups: { name: string; cvx?: string }[];
  /** "unspecified formulation" codes: for historical records only. */
  unspecified: boolean;
}

export interface MvxInfo {
  code: string;
  display: string;
  status: string;
  lastUpdated?: string;
}

export interface NdcInfo {
  /** 11 digits. */
  ndc11: string;
  /** LLLLL-PPPP-KK */
  hyphenated: string;
  kinds: NdcKind[];
  display?: string;
  cvx: string[];
  startDate?: string;
  endDate?: string;
  mvx: string[];
}

export interface IndexedCodeSystem {
  resource: CodeSystem;
  concepts: Map<string, CodeSystemConcept>;
}

/** Which system a coding belongs to, by its (possibly legacy OID) system URI. */
export function systemKind(system: string | undefined): 'cvx' | 'ndc' | 'mvx' | undefined {
  if (!system) return undefined;
  if ((CVX_SYSTEMS as readonly string[]).includes(system)) return 'cvx';
  if ((NDC_SYSTEMS as readonly string[]).includes(system)) return 'ndc';
  if ((MVX_SYSTEMS as readonly string[]).includes(system)) return 'mvx';
  return undefined;
}

/** CVX as written → as stored: trimmed, 1–9 zero-padded like the CDC files. */
export function normaliseCvx(code: string): string {
  const t = code.trim();
  return /^\d$/.test(t) ? `0${t}` : t;
}

const ID_PRIORITY: Record<string, string> = {
  [CVX_SYSTEM]: TERMINOLOGY_IDS.cvx,
  [MVX_SYSTEM]: TERMINOLOGY_IDS.mvx,
};

/** An immutable index over one set of terminology resources. */
class CodeSetIndex {
  readonly cvx = new Map<string, CvxInfo>();
  readonly mvx = new Map<string, MvxInfo>();
  readonly ndc = new Map<string, NdcInfo>();
  readonly codeSystems = new Map<string, IndexedCodeSystem>();
  readonly valueSets = new Map<string, ValueSet>();
  readonly conceptMaps: ConceptMap[] = [];
  readonly stamp: string;

  constructor(resources: Resource[]) {
    const stampParts: string[] = [];
    for (const r of resources) {
      stampParts.push(`${r.resourceType}/${r.id}/${r.meta?.versionId ?? ''}`);
      if (r.resourceType === 'CodeSystem') this.addCodeSystem(r);
      else if (r.resourceType === 'ValueSet' && r.url) {
        if (!this.valueSets.has(r.url) || r.id === urlTail(r.url)) this.valueSets.set(r.url, r);
      } else if (r.resourceType === 'ConceptMap') this.conceptMaps.push(r);
    }
    this.stamp = stampParts.sort().join(',');
    const cvxSystem = this.codeSystems.get(CVX_SYSTEM);
    if (cvxSystem) for (const c of cvxSystem.concepts.values()) this.cvx.set(c.code!, cvxInfo(c));
    const mvxSystem = this.codeSystems.get(MVX_SYSTEM);
    if (mvxSystem) for (const c of mvxSystem.concepts.values()) this.mvx.set(c.code!, mvxInfo(c));
    for (const map of this.conceptMaps) this.addNdcMap(map);
  }

  private addCodeSystem(cs: CodeSystem): void {
    if (!cs.url) return;
    const existing = this.codeSystems.get(cs.url);
    // Two CodeSystems with one URL: the one with the well-known id wins, else the first.
    if (existing && (existing.resource.id === (ID_PRIORITY[cs.url] ?? urlTail(cs.url)) || cs.id !== (ID_PRIORITY[cs.url] ?? urlTail(cs.url)))) return;
    const concepts = new Map<string, CodeSystemConcept>();
    const walk = (list: CodeSystemConcept[] | undefined) => {
      for (const c of list ?? []) {
        if (c.code !== undefined && !concepts.has(c.code)) concepts.set(c.code, c);
        walk(c.concept);
      }
    };
    walk(cs.concept);
    this.codeSystems.set(cs.url, { resource: cs, concepts });
  }

  private addNdcMap(map: ConceptMap): void {
    const kind: NdcKind | undefined =
      map.id === TERMINOLOGY_IDS.unitOfSale ? 'unitOfSale' : map.id === TERMINOLOGY_IDS.unitOfUse ? 'unitOfUse' : undefined;
    for (const group of map.group ?? []) {
      if (systemKind(group.source ?? map.sourceUri) !== 'ndc' || systemKind(group.target ?? map.targetUri) !== 'cvx') continue;
      for (const el of group.element ?? []) {
        if (!el.code) continue;
        const candidates = ndcCandidates(el.code);
        if (candidates.length !== 1) continue;
        const ndc11 = candidates[0]!;
        const info = this.ndc.get(ndc11) ?? {
          ndc11,
          hyphenated: `${ndc11.slice(0, 5)}-${ndc11.slice(5, 9)}-${ndc11.slice(9)}`,
          kinds: [],
          cvx: [],
          mvx: [],
        };
        if (kind && !info.kinds.includes(kind)) info.kinds.push(kind);
        info.display ??= el.display;
        for (const t of el.target ?? []) {
          if (t.code && t.equivalence !== 'unmatched' && t.equivalence !== 'disjoint' && !info.cvx.includes(normaliseCvx(t.code))) {
            info.cvx.push(normaliseCvx(t.code));
          }
        }
        for (const ext of el.extension ?? []) {
          if (ext.url === EXT.startDate && ext.valueDate) info.startDate = minDate(info.startDate, ext.valueDate);
          else if (ext.url === EXT.endDate && ext.valueDate) info.endDate = maxDate(info.endDate, ext.valueDate);
          else if (ext.url === EXT.mvx && ext.valueCode && !info.mvx.includes(ext.valueCode)) info.mvx.push(ext.valueCode);
        }
        this.ndc.set(ndc11, info);
      }
    }
  }
}

function urlTail(url: string): string {
  return url.slice(url.lastIndexOf('/') + 1);
}

function minDate(a: string | undefined, b: string): string {
  return a === undefined || b < a ? b : a;
}
function maxDate(a: string | undefined, b: string): string {
  return a === undefined || b > a ? b : a;
}

function prop(c: CodeSystemConcept, code: string) {
  return c.property?.find((p) => p.code === code);
}

function cvxInfo(c: CodeSystemConcept): CvxInfo {
  const statusText = prop(c, 'status')?.valueString ?? prop(c, 'status')?.valueCode;
  const inactive = prop(c, 'inactive')?.valueBoolean;
  const status = CVX_STATUSES.find((s) => s === statusText) ?? (inactive ? 'Inactive' : 'Active');
  const lastUpdated = prop(c, 'lastUpdated')?.valueDateTime?.slice(0, 10);
  const groups = (c.property ?? [])
    .filter((p) => p.code === 'vaccineGroup' && p.valueCoding)
    .map((p) => ({ name: p.valueCoding!.display ?? p.valueCoding!.code ?? '', ...(p.valueCoding!.code ? { cvx: p.valueCoding!.code } : {}) }));
  const text = `${c.display ?? ''} ${c.definition ?? ''}`;
  return {
    code: c.code!,
    display: c.display ?? c.code!,
    status,
    ...(lastUpdated ? { lastUpdated } : {}),
    groups,
    unspecified: /unspecified/i.test(text),
  };
}

function mvxInfo(c: CodeSystemConcept): MvxInfo {
  const lastUpdated = prop(c, 'lastUpdated')?.valueDateTime?.slice(0, 10);
  return {
    code: c.code!,
    display: c.display ?? c.code!,
    status: prop(c, 'status')?.valueString ?? 'Active',
    ...(lastUpdated ? { lastUpdated } : {}),
  };
}

export interface CodeCheck {
  result: boolean;
  display?: string;
  message?: string;
}

/** The live code sets: lookups go to the index of the last load(). */
export class CodeSets {
  private index: CodeSetIndex;

  constructor(resources: Resource[] = []) {
    this.index = new CodeSetIndex(resources);
  }

  /** Replaces the whole index (current terminology resources of the store). */
  load(resources: Resource[]): void {
    this.index = new CodeSetIndex(resources);
  }

  /** Identifies the loaded resource versions; equal stamps mean nothing changed. */
  get stamp(): string {
    return this.index.stamp;
  }

  get counts(): { cvx: number; mvx: number; ndc: number; codeSystems: number; valueSets: number; conceptMaps: number } {
    const i = this.index;
    return { cvx: i.cvx.size, mvx: i.mvx.size, ndc: i.ndc.size, codeSystems: i.codeSystems.size, valueSets: i.valueSets.size, conceptMaps: i.conceptMaps.length };
  }

  /** False when no CVX code system and no NDC map is loaded (then vaccine codes cannot be judged). */
  get hasVaccineCodes(): boolean {
    return this.index.cvx.size > 0 || this.index.ndc.size > 0;
  }

  cvx(code: string): CvxInfo | undefined {
    return this.index.cvx.get(normaliseCvx(code));
  }

  mvx(code: string): MvxInfo | undefined {
    return this.index.mvx.get(code.trim()) ?? this.index.mvx.get(code.trim().toUpperCase());
  }

  /** An NDC in any 10- or 11-digit form, with or without hyphens. */
  ndc(code: string): NdcInfo | undefined {
    for (const c of ndcCandidates(code)) {
      const info = this.index.ndc.get(c);
      if (info) return info;
    }
    return undefined;
  }

  codeSystem(url: string): IndexedCodeSystem | undefined {
    const kind = systemKind(url);
    const canonical = kind === 'cvx' ? CVX_SYSTEM : kind === 'mvx' ? MVX_SYSTEM : url;
    return this.index.codeSystems.get(canonical);
  }

  codeSystemById(id: string): IndexedCodeSystem | undefined {
    for (const cs of this.index.codeSystems.values()) if (cs.resource.id === id) return cs;
    return undefined;
  }

  valueSet(url: string): ValueSet | undefined {
    return this.index.valueSets.get(url.split('|')[0]!);
  }

  valueSetById(id: string): ValueSet | undefined {
    for (const vs of this.index.valueSets.values()) if (vs.id === id) return vs;
    return undefined;
  }

  conceptMaps(): readonly ConceptMap[] {
    return this.index.conceptMaps;
  }

  /** Is system|code in the code system (NDC: in the NDC maps; any 10/11-digit form)? */
  checkCode(system: string, code: string): CodeCheck {
    const kind = systemKind(system);
    if (kind === 'ndc') {
      const info = this.ndc(code);
      return info
        ? { result: true, ...(info.display ? { display: info.display } : {}) }
        : { result: false, message: `NDC "${code}" is not in the server's NDC code sets` };
    }
    const cs = this.codeSystem(system);
    if (!cs) return { result: false, message: `The code system ${system} is not known to this server` };
    const concept = cs.concepts.get(kind === 'cvx' ? normaliseCvx(code) : code);
    if (!concept) return { result: false, message: `"${code}" is not a code of ${system}` };
    return { result: true, ...(concept.display ? { display: concept.display } : {}) };
  }

  /** Is system|code in the value set (compose include/exclude; concept lists, `=` filters, imported value sets)? */
  checkInValueSet(vs: ValueSet, system: string | undefined, code: string, seen = new Set<string>()): CodeCheck {
    if (vs.url) seen.add(vs.url);
    const includes = vs.compose?.include ?? [];
    let hit: CodeCheck | undefined;
    for (const inc of includes) {
      const r = this.checkInclude(inc, system, code, seen);
      if (r.result) {
        hit = r;
        break;
      }
    }
    if (!hit && vs.expansion?.contains) {
      const found = vs.expansion.contains.find((c) => c.code === code && (!system || c.system === system));
      if (found) hit = { result: true, ...(found.display ? { display: found.display } : {}) };
    }
    if (!hit) return { result: false, message: `${system ? `${system}|` : ''}${code} is not in the value set ${vs.url ?? vs.id}` };
    for (const exc of vs.compose?.exclude ?? []) {
      if (this.checkInclude(exc, system, code, seen).result) {
        return { result: false, message: `${code} is excluded from the value set ${vs.url ?? vs.id}` };
      }
    }
    return hit;
  }

  private checkInclude(inc: ValueSetComposeInclude, system: string | undefined, code: string, seen: Set<string>): CodeCheck {
    for (const url of inc.valueSet ?? []) {
      const other = this.valueSet(url);
      if (!other || seen.has(url)) return { result: false };
      if (!this.checkInValueSet(other, system, code, seen).result) return { result: false };
    }
    if (!inc.system) return inc.valueSet?.length ? { result: true } : { result: false };
    if (system && systemKind(system) !== systemKind(inc.system) && system !== inc.system) return { result: false };
    const kind = systemKind(inc.system);
    const wanted = kind === 'cvx' ? normaliseCvx(code) : code;
    if (inc.concept?.length) {
      if (kind === 'ndc') {
        const candidates = new Set(ndcCandidates(code));
        const c = inc.concept.find((x) => x.code !== undefined && ndcCandidates(x.code).some((d) => candidates.has(d)));
        return c ? { result: true, ...(c.display ? { display: c.display } : {}) } : { result: false };
      }
      const c = inc.concept.find((x) => x.code === wanted);
      if (!c) return { result: false };
      const base = this.checkCode(inc.system, wanted);
      return { result: true, ...(c.display ?? base.display ? { display: c.display ?? base.display } : {}) };
    }
    const base = this.checkCode(inc.system, code);
    if (!base.result) return base;
    for (const f of inc.filter ?? []) {
      if (f.op !== '=' || !f.property) return { result: false, message: `Filter ${f.property} ${f.op} is not supported` };
      const concept = this.codeSystem(inc.system)?.concepts.get(wanted);
      const p = concept?.property?.find((x) => x.code === f.property);
      const value = p && (p.valueCode ?? p.valueString ?? p.valueCoding?.code ?? (p.valueBoolean !== undefined ? String(p.valueBoolean) : undefined));
      if (value !== f.value) return { result: false };
    }
    return base;
  }
}
