// Reads a CDC IIS code-set release (the files the CDC publishes, as copied in profiles/codesets/cdc/):
// cvx.xml, mvx.xml, vac2vg.xml (CVX → vaccine group), NDC_Unit_use.txt, NDC_Unit_sale.txt and
// NDC_Linker.txt. Pure parsing: the result is plain data that resources.ts turns into FHIR
// CodeSystem / ConceptMap / ValueSet resources. Column layouts: profiles/codesets/PROVENANCE.md.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ndcDigits } from './ndc.js';

export type CvxStatus = 'Active' | 'Inactive' | 'Non-US' | 'Never Active' | 'Pending';
export const CVX_STATUSES: readonly CvxStatus[] = ['Active', 'Inactive', 'Non-US', 'Never Active', 'Pending'];

export interface CvxEntry {
  code: string;
  shortDescription: string;
  fullName?: string;
  notes?: string;
  status: CvxStatus;
  /** YYYY-MM-DD */
  lastUpdated?: string;
  /** Vaccine groups this CVX belongs to (from vac2vg.xml): group name and the group's CVX. */
  groups: { name: string; cvx?: string }[];
}

export interface MvxEntry {
  code: string;
  name: string;
  notes?: string;
  status: string;
  lastUpdated?: string;
}

export type NdcKind = 'unitOfUse' | 'unitOfSale';

export interface NdcEntry {
  /** 11 digits, no hyphens. */
  ndc11: string;
  /** 5-4-2 with hyphens, as the CDC writes it. */
  hyphenated: string;
  kind: NdcKind;
  proprietaryName?: string;
  genericName?: string;
  labelerName?: string;
  /** YYYY-MM-DD */
  startDate?: string;
  endDate?: string;
  packageForm?: string;
  /** Every CVX the CDC lists for this NDC (usually one; Engerix-B has two). */
  cvx: string[];
  cvxDescription?: string;
  /** MVX codes from the linker. */
  mvx: string[];
  /** The unit of sale (for a unit of use) or units of use (for a unit of sale) it is linked to, hyphenated. */
  linked: string[];
  lastUpdated?: string;
}

export interface CdcRelease {
  cvx: CvxEntry[];
  mvx: MvxEntry[];
  ndc: NdcEntry[];
}

export const CDC_FILES = {
  cvx: 'cvx.xml',
  mvx: 'mvx.xml',
  groups: 'vac2vg.xml',
  unitOfUse: 'NDC_Unit_use.txt',
  unitOfSale: 'NDC_Unit_sale.txt',
  linker: 'NDC_Linker.txt',
} as const;

/**
 * Reads the CDC files found in dir. A release may be partial (only a new cvx.xml, say): absent
 * files come back as undefined so the caller keeps what it has for them.
 */
export function readCdcDirectory(dir: string): Partial<CdcRelease> & { files: string[] } {
  const file = (name: string) => path.join(dir, name);
  const has = (name: string) => existsSync(file(name));
  const files: string[] = [];
  const out: Partial<CdcRelease> & { files: string[] } = { files };
  if (has(CDC_FILES.cvx)) {
    files.push(CDC_FILES.cvx);
    const groups = has(CDC_FILES.groups) ? parseVaccineGroups(readText(file(CDC_FILES.groups))) : new Map();
    if (has(CDC_FILES.groups)) files.push(CDC_FILES.groups);
    out.cvx = parseCvx(readText(file(CDC_FILES.cvx)), groups);
  }
  if (has(CDC_FILES.mvx)) {
    files.push(CDC_FILES.mvx);
    out.mvx = parseMvx(readText(file(CDC_FILES.mvx)));
  }
  if (has(CDC_FILES.unitOfUse) || has(CDC_FILES.unitOfSale)) {
    const use = has(CDC_FILES.unitOfUse) ? readText(file(CDC_FILES.unitOfUse)) : '';
    const sale = has(CDC_FILES.unitOfSale) ? readText(file(CDC_FILES.unitOfSale)) : '';
    const linker = has(CDC_FILES.linker) ? readText(file(CDC_FILES.linker)) : '';
    for (const name of [CDC_FILES.unitOfUse, CDC_FILES.unitOfSale, CDC_FILES.linker]) if (has(name)) files.push(name);
    out.ndc = parseNdc(use, sale, linker);
  }
  return out;
}

/** XML files declare their encoding (cvx.xml says ISO-8859-1); text files are UTF-8. */
function readText(file: string): string {
  const bytes = readFileSync(file);
  const head = bytes.subarray(0, 100).toString('latin1');
  const latin1 = /encoding="(ISO-8859-1|latin1|windows-1252)"/i.test(head);
  return bytes.toString(latin1 ? 'latin1' : 'utf8');
}

// --- XML: the CDC files are flat, so a small tolerant reader is enough (no XML dependency).

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

function decodeXml(text: string): string {
  return text.replace(/&(#x[0-9a-f]+|#\d+|[a-z]+);/gi, (whole, ent: string) => {
    if (ent[0] === '#') {
      const cp = ent[1] === 'x' || ent[1] === 'X' ? parseInt(ent.slice(2), 16) : parseInt(ent.slice(1), 10);
      return Number.isFinite(cp) ? String.fromCodePoint(cp) : whole;
    }
    return ENTITIES[ent.toLowerCase()] ?? whole;
  });
}

/** The blocks `<tag>…</tag>` of a document. */
function blocks(xml: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g');
  for (let m = re.exec(xml); m; m = re.exec(xml)) out.push(m[1]!);
  return out;
}

/** Child elements of a block as name → text (first occurrence wins); `<X/>` is an empty value. */
function children(block: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /<([A-Za-z_][\w.-]*)\s*(?:\/>|>([\s\S]*?)<\/\1>)/g;
  for (let m = re.exec(block); m; m = re.exec(block)) {
    if (!out.has(m[1]!)) out.set(m[1]!, decodeXml(m[2] ?? ''));
  }
  return out;
}

/** The CDC's Name/Value pair blocks (mvx.xml, vac2vg.xml): `<Name>k</Name><Value>v</Value>`…. */
function pairs(block: string): Map<string, string> {
  const out = new Map<string, string>();
  const re = /<Name>([\s\S]*?)<\/Name>\s*(?:<Value>([\s\S]*?)<\/Value>|<Value\s*\/>)/g;
  for (let m = re.exec(block); m; m = re.exec(block)) {
    const key = clean(decodeXml(m[1]!))?.toLowerCase();
    if (key && !out.has(key)) out.set(key, decodeXml(m[2] ?? ''));
  }
  return out;
}

/** Trims (also non-breaking spaces); empty → undefined. */
function clean(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const t = value.replace(/\u00a0/g, ' ').replace(/\s+/g, ' ').trim();
  return t === '' ? undefined : t;
}

/** `M/D/YYYY` (XML), `YYYYMMDD` (NDC) or `YYYY-MM-DD hh:mm:ss` → `YYYY-MM-DD`. */
export function cdcDate(value: string | undefined): string | undefined {
  const v = clean(value);
  if (!v) return undefined;
  let m = /^(\d{1,2})\/(\d{1,2})\/(\d{4})/.exec(v);
  if (m) return `${m[3]}-${m[1]!.padStart(2, '0')}-${m[2]!.padStart(2, '0')}`;
  m = /^(\d{4})(\d{2})(\d{2})$/.exec(v);
  if (m) return `${m[1]}-${m[2]}-${m[3]}`;
  m = /^(\d{4})-(\d{2})-(\d{2})/.exec(v);
  if (m) return `${m[1]}-${m[2]}-${m[3]}`;
  return undefined;
}

function cvxStatus(value: string | undefined): CvxStatus {
  const v = (clean(value) ?? '').toLowerCase().replace(/[\s_-]+/g, ' ');
  const found = CVX_STATUSES.find((s) => s.toLowerCase().replace('-', ' ') === v);
  return found ?? 'Inactive';
}

/** CVX codes are strings; 1–9 are zero-padded in every CDC file. */
export function cvxCode(value: string | undefined): string | undefined {
  const v = clean(value);
  if (!v) return undefined;
  return /^\d$/.test(v) ? `0${v}` : v;
}

export function parseCvx(xml: string, groups: Map<string, CvxEntry['groups']> = new Map()): CvxEntry[] {
  const out: CvxEntry[] = [];
  for (const block of blocks(xml, 'CVXInfo')) {
    const f = children(block);
    const code = cvxCode(f.get('CVXCode'));
    if (!code) continue;
    out.push({
      code,
      shortDescription: clean(f.get('ShortDescription')) ?? code,
      fullName: clean(f.get('FullVaccinename')),
      notes: clean(f.get('Notes')),
      status: cvxStatus(f.get('Status')),
      lastUpdated: cdcDate(f.get('LastUpdated')),
      groups: groups.get(code) ?? [],
    });
  }
  return out;
}

export function parseMvx(xml: string): MvxEntry[] {
  const out: MvxEntry[] = [];
  for (const block of blocks(xml, 'MVXInfo')) {
    const f = pairs(block);
    const code = clean(f.get('mvx_code'));
    if (!code) continue;
    out.push({
      code,
      name: clean(f.get('manufacturer name')) ?? code,
      notes: clean(f.get('notes')),
      status: clean(f.get('status')) ?? 'Active',
      lastUpdated: cdcDate(f.get('last updated')),
    });
  }
  return out;
}

export function parseVaccineGroups(xml: string): Map<string, CvxEntry['groups']> {
  const out = new Map<string, CvxEntry['groups']>();
  for (const block of blocks(xml, 'CVXVGInfo')) {
    const f = pairs(block);
    const cvx = cvxCode(f.get('cvxcode'));
    const name = clean(f.get('vaccine group name'));
    if (!cvx || !name) continue;
    const list = out.get(cvx) ?? [];
    if (!list.some((g) => g.name === name)) list.push({ name, cvx: cvxCode(f.get('cvx for vaccine group')) });
    out.set(cvx, list);
  }
  return out;
}

interface NdcRow {
  id: string;
  labeler: string;
  entry: NdcEntry;
}

function splitRows(text: string): string[][] {
  return text
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '')
    .map((line) => line.split('|'));
}

function ndcRow(cols: string[], kind: NdcKind): NdcRow | undefined {
  const use = kind === 'unitOfUse';
  const id = clean(cols[0]);
  const labeler = clean(cols[1]) ?? '';
  const hyphenatedSource = clean(cols[14]);
  const digits = hyphenatedSource ? ndcDigits(hyphenatedSource) : undefined;
  if (!id || !digits) return undefined;
  const cvx = cvxCode(use ? cols[11] : cols[12]);
  return {
    id,
    labeler,
    entry: {
      ndc11: digits,
      hyphenated: `${digits.slice(0, 5)}-${digits.slice(5, 9)}-${digits.slice(9)}`,
      kind,
      proprietaryName: clean(cols[4]),
      genericName: clean(cols[5]),
      labelerName: clean(cols[6]),
      startDate: cdcDate(cols[7]),
      endDate: cdcDate(cols[8]),
      packageForm: clean(cols[9]),
      cvx: cvx ? [cvx] : [],
      cvxDescription: clean(use ? cols[12] : cols[13]),
      mvx: [],
      linked: [],
      lastUpdated: cdcDate(use ? cols[15] : cols[11]),
    },
  };
}

/**
 * NDC unit-of-use and unit-of-sale rows, merged per (kind, NDC): an NDC listed twice with
 * different CVX keeps both CVX. The linker adds MVX codes and the use ↔ sale package links.
 */
export function parseNdc(useText: string, saleText: string, linkerText: string): NdcEntry[] {
  const byKey = new Map<string, NdcEntry>();
  const useById = new Map<string, NdcRow[]>();
  const saleById = new Map<string, NdcRow[]>();
  const add = (row: NdcRow, ids: Map<string, NdcRow[]>) => {
    const key = `${row.entry.kind}|${row.entry.ndc11}`;
    const existing = byKey.get(key);
    if (existing) {
      for (const c of row.entry.cvx) if (!existing.cvx.includes(c)) existing.cvx.push(c);
      row.entry = existing;
    } else byKey.set(key, row.entry);
    const list = ids.get(row.id) ?? [];
    list.push(row);
    ids.set(row.id, list);
  };
  for (const cols of splitRows(useText)) {
    const row = ndcRow(cols, 'unitOfUse');
    if (row) add(row, useById);
  }
  for (const cols of splitRows(saleText)) {
    const row = ndcRow(cols, 'unitOfSale');
    if (row) add(row, saleById);
  }
  for (const cols of splitRows(linkerText)) {
    const saleRows = saleById.get(clean(cols[1]) ?? '') ?? [];
    const useRows = useById.get(clean(cols[2]) ?? '') ?? [];
    const mvx = clean(cols[3]);
    for (const sale of saleRows) {
      // An id reused for unrelated products (unit of use 3007) is matched by labeler code.
      const matching = useRows.length > 1 ? useRows.filter((u) => u.labeler === sale.labeler) : useRows;
      for (const use of matching) {
        link(sale.entry, use.entry, mvx);
        link(use.entry, sale.entry, mvx);
      }
    }
  }
  return [...byKey.values()];
}

function link(entry: NdcEntry, other: NdcEntry, mvx: string | undefined): void {
  if (!entry.linked.includes(other.hyphenated)) entry.linked.push(other.hyphenated);
  if (mvx && !entry.mvx.includes(mvx)) entry.mvx.push(mvx);
}
