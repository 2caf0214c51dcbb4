// A coverage Measure read into what the evaluator needs: the age range of the initial population,
// the numerator rule (valid CDSi doses per antigen by or from an age, or a vaccine group's forecast
// status) and the stratifiers. The criteria language is documented in profiles/measures/README.md.
import { readFileSync, readdirSync } from 'node:fs';
import type { Measure } from '@medplum/fhirtypes';
import { badRequest } from '../fhir/outcome.js';
import { defaultSupportingData } from '../forecast/index.js';

export type AgeUnit = 'months' | 'years';

export interface AgeRange {
  min: number;
  max: number;
  unit: AgeUnit;
}

export type NumeratorRule =
  | { kind: 'valid'; counts: Array<{ antigen: string; min: number }>; by?: { n: number; unit: AgeUnit }; from?: { n: number; unit: AgeUnit } }
  | { kind: 'status'; vaccineGroup: string };

export type Stratifier = { code: string; kind: 'age-band'; unit: AgeUnit; bands: Array<{ min: number; max: number; label: string }> } | { code: string; kind: 'zip' };

export interface MeasureDefinition {
  measure: Measure;
  population: AgeRange;
  numerator: NumeratorRule;
  stratifiers: Stratifier[];
  /** The CDSi vaccine groups the forecast must cover. */
  vaccineGroups: string[];
}

const MEASURE_DIR = new URL('../../profiles/measures/', import.meta.url);

let shipped: Map<string, Measure> | undefined;

/** The Measures shipped in profiles/measures, by id. */
export function shippedMeasures(): Map<string, Measure> {
  if (!shipped) {
    shipped = new Map();
    for (const f of readdirSync(MEASURE_DIR).filter((x) => /^Measure-.*\.json$/.test(x))) {
      const m = JSON.parse(readFileSync(new URL(f, MEASURE_DIR), 'utf8')) as Measure;
      shipped.set(m.id as string, m);
    }
  }
  return shipped;
}

function invalid(measure: Measure, text: string): never {
  throw badRequest(`Measure/${measure.id}: ${text} (criteria language: profiles/measures/README.md)`);
}

function unitOf(measure: Measure, u: string): AgeUnit {
  if (u === 'month' || u === 'months') return 'months';
  if (u === 'year' || u === 'years') return 'years';
  return invalid(measure, `unknown age unit "${u}"`);
}

function antigenGroups(): Map<string, string> {
  const map = new Map<string, string>();
  for (const g of defaultSupportingData().vaccineGroups) for (const a of g.antigens) map.set(a.toLowerCase(), g.name);
  return map;
}

export function parseMeasure(measure: Measure): MeasureDefinition {
  const group = measure.group?.[0];
  if (!group) invalid(measure, 'has no group');
  const expr = (code: string) => group.population?.find((p) => p.code?.coding?.some((c) => c.code === code))?.criteria?.expression?.trim();
  const ip = expr('initial-population');
  const age = ip ? /^age\s+(\d+)\s*\.\.\s*(\d+)\s+(months?|years?)$/.exec(ip) : null;
  if (!age) invalid(measure, `initial-population must read "age MIN..MAX months|years", got "${ip ?? ''}"`);
  const population: AgeRange = { min: Number(age[1]), max: Number(age[2]), unit: unitOf(measure, age[3]) };
  const den = expr('denominator');
  if (den !== undefined && den !== 'initial-population') invalid(measure, 'denominator must be "initial-population"');

  const groups = antigenGroups();
  const num = expr('numerator') ?? '';
  let numerator: NumeratorRule;
  const status = /^status\s+(.+?)\s+complete$/.exec(num);
  if (status) {
    const vaccineGroup = defaultSupportingData().vaccineGroups.find((g) => g.name.toLowerCase() === status[1].toLowerCase())?.name;
    if (!vaccineGroup) invalid(measure, `unknown vaccine group "${status[1]}"`);
    numerator = { kind: 'status', vaccineGroup };
  } else if (num.startsWith('valid ')) {
    let rest = num.slice('valid '.length);
    const rule: Extract<NumeratorRule, { kind: 'valid' }> = { kind: 'valid', counts: [] };
    const bounds = /\s+(by|from)\s+age\s+(\d+)\s+(months?|years?)/g;
    for (const m of rest.matchAll(bounds)) rule[m[1] as 'by' | 'from'] = { n: Number(m[2]), unit: unitOf(measure, m[3]) };
    rest = rest.replace(bounds, '');
    for (const part of rest.split(',')) {
      const m = /^\s*([A-Za-z0-9 \-]+?)\s*>=\s*(\d+)\s*$/.exec(part);
      if (!m) invalid(measure, `numerator part "${part.trim()}" must read "Antigen>=n"`);
      const antigen = [...groups.keys()].find((a) => a === m[1].toLowerCase());
      if (!antigen) invalid(measure, `unknown CDSi antigen "${m[1]}"`);
      const canonical = defaultSupportingData().vaccineGroups.flatMap((g) => g.antigens).find((a) => a.toLowerCase() === antigen)!;
      rule.counts.push({ antigen: canonical, min: Number(m[2]) });
    }
    numerator = rule;
  } else {
    return invalid(measure, `numerator must read "valid Antigen>=n, …" or "status GROUP complete", got "${num}"`);
  }

  const stratifiers: Stratifier[] = [];
  for (const s of group.stratifier ?? []) {
    const code = s.code?.text ?? s.code?.coding?.[0]?.code ?? '';
    const e = s.criteria?.expression?.trim() ?? '';
    if (e === 'zip') {
      stratifiers.push({ code, kind: 'zip' });
      continue;
    }
    const m = /^age-band\s+(months?|years?)\s+(.+)$/.exec(e);
    if (!m) invalid(measure, `stratifier "${code}" must read "age-band months|years A-B,C-D" or "zip"`);
    const unit = unitOf(measure, m[1]);
    const bands = m[2].split(',').map((b) => {
      const r = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(b);
      if (!r) invalid(measure, `age band "${b}" must read "A-B"`);
      return { min: Number(r[1]), max: Number(r[2]), label: `${r[1]}-${r[2]} ${unit}` };
    });
    stratifiers.push({ code, kind: 'age-band', unit, bands });
  }

  const vaccineGroups =
    numerator.kind === 'status' ? [numerator.vaccineGroup] : [...new Set(numerator.counts.map((c) => groups.get(c.antigen.toLowerCase())!))];
  return { measure, population, numerator, stratifiers, vaccineGroups };
}
