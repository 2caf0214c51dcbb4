// CDC's CDSi supporting data (ScheduleSupportingData.xml + one AntigenSupportingData-*.xml per
// antigen) parsed into the typed model the engine reads. Everything schedule-specific (vaccine
// groups, antigens, series, ages, intervals, vaccines, skips, conflicts, observations) comes from
// these files: a new CDC release replaces XML in profiles/cdsi/, not code.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { XMLParser } from 'fast-xml-parser';
import { type Day, type Duration, parseDuration, parseSupportingDate } from './dates.js';

export interface AgeRule {
  absMinAge?: Duration;
  minAge?: Duration;
  earliestRecAge?: Duration;
  latestRecAge?: Duration;
  maxAge?: Duration;
  effectiveDate?: Day;
  cessationDate?: Day;
}

export interface IntervalRule {
  fromPrevious: boolean;
  fromTargetDose?: number;
  /** CVX codes: the interval runs from the most recent dose of any of them. */
  fromMostRecent?: readonly string[];
  /** Observation code: the interval runs from the date of that observation. */
  fromRelevantObs?: string;
  absMinInt?: Duration;
  minInt?: Duration;
  earliestRecInt?: Duration;
  latestRecInt?: Duration;
  /** "override": this interval replaces the from-previous interval when it applies. */
  priorityOverride: boolean;
  effectiveDate?: Day;
  cessationDate?: Day;
}

export interface VaccineRule {
  vaccineType: string;
  cvx: string;
  beginAge?: Duration;
  endAge?: Duration;
  tradeName?: string;
  mvx?: string;
  forecastVaccineType: boolean;
}

export type ConditionType =
  | 'age'
  | 'interval'
  | 'vaccine count by age'
  | 'vaccine count by date'
  | 'completed series'
  | string;

export interface SkipCondition {
  type: ConditionType;
  startDate?: Day;
  endDate?: Day;
  beginAge?: Duration;
  endAge?: Duration;
  interval?: Duration;
  doseCount?: number;
  /** "total" or "valid". */
  doseType?: string;
  /** "greater than", "equal to", "less than". */
  doseCountLogic?: string;
  vaccineTypes?: ReadonlySet<string>;
  seriesGroups?: readonly string[];
}

export interface SkipSet {
  id: string;
  description: string;
  effectiveDate?: Day;
  cessationDate?: Day;
  /** "and" or "or" between the set's conditions. */
  conditionLogic: string;
  conditions: readonly SkipCondition[];
}

export interface ConditionalSkip {
  /** "evaluation", "forecast" or "both". */
  context: string;
  /** "and" or "or" between sets ("n/a" with one set). */
  setLogic: string;
  sets: readonly SkipSet[];
}

export interface SeriesDose {
  doseNumber: number;
  ages: readonly AgeRule[];
  intervals: readonly IntervalRule[];
  allowableIntervals: readonly IntervalRule[];
  preferableVaccines: readonly VaccineRule[];
  allowableVaccines: readonly VaccineRule[];
  inadvertentVaccines: ReadonlySet<string>;
  conditionalSkips: readonly ConditionalSkip[];
  recurring: boolean;
  seasonalStart?: Day;
  seasonalEnd?: Day;
  /** The CVX of the preferable vaccines marked as forecast vaccine types (derived once, at load). */
  forecastVaccineTypes: readonly string[];
}

export interface Indication {
  code: string;
  beginAge?: Duration;
  endAge?: Duration;
}

export interface Series {
  name: string;
  antigen: string;
  vaccineGroup: string;
  /** "standard", "risk" or "evaluation only". */
  type: string;
  equivalentSeriesGroups: readonly string[];
  requiredGender: readonly string[];
  defaultSeries: boolean;
  productPath: boolean;
  seriesGroupName: string;
  seriesGroup: string;
  seriesPriority: string;
  seriesPreference: number;
  minAgeToStart?: Duration;
  maxAgeToStart?: Duration;
  indications: readonly Indication[];
  doses: readonly SeriesDose[];
  /** A target dose has a "Completed Series" skip condition (derived once, at load). */
  usesCompletedSeries: boolean;
}

export interface GroupContraindication {
  code: string;
  beginAge?: Duration;
  endAge?: Duration;
}

export interface VaccineContraindication {
  code: string;
  vaccines: readonly { cvx: string; beginAge?: Duration; endAge?: Duration }[];
}

export interface Antigen {
  name: string;
  immunityObservationCodes: readonly string[];
  immunityBirthDates: readonly { before: Day; country?: string; exclusions: readonly string[] }[];
  groupContraindications: readonly GroupContraindication[];
  vaccineContraindications: readonly VaccineContraindication[];
  series: readonly Series[];
}

export interface LiveVirusConflict {
  previousCvx: string;
  currentCvx: string;
  begin: Duration;
  minEnd: Duration;
  end: Duration;
}

export interface VaccineGroup {
  name: string;
  administerFullVaccineGroup: boolean;
  antigens: readonly string[];
}

export interface AntigenAssociation {
  antigen: string;
  beginAge?: Duration;
  endAge?: Duration;
}

export interface Observation {
  code: string;
  title: string;
  codedValues: readonly { code: string; codeSystem: string }[];
}

export interface SupportingData {
  vaccineGroups: readonly VaccineGroup[];
  antigens: ReadonlyMap<string, Antigen>;
  cvxToAntigens: ReadonlyMap<string, readonly AntigenAssociation[]>;
  /** Live-virus conflicts by the current dose's CVX. */
  liveVirusConflicts: ReadonlyMap<string, readonly LiveVirusConflict[]>;
  /** The same conflicts by current CVX, then previous CVX: the engine looks them up per pair of doses. */
  liveVirusConflictsByPair: ReadonlyMap<string, ReadonlyMap<string, readonly LiveVirusConflict[]>>;
  observations: ReadonlyMap<string, Observation>;
  /**
   * "SNOMED|code" / "CDCPHINVS|code" to every CDSi observation that lists it, in the data's order.
   * One code may stand for several: CDC PHIN VADS VXC20 ("allergy to a previous dose of this
   * vaccine") is listed on each vaccine's allergy observation and on 080 (any vaccine component);
   * SNOMED 62479008 (AIDS) on 154 and 155 (severely immunocompromised or not). See
   * observationCodesOfConcept (fhir.ts) for how the forecast chooses among them.
   */
  observationsByCodedValue: ReadonlyMap<string, readonly string[]>;
  /** The CVX codes an observation lists (a vaccine's allergy observation); absent when none. */
  observationVaccines: ReadonlyMap<string, ReadonlySet<string>>;
}

// ---------------------------------------------------------------------------------------------

const ARRAY_TAGS = new Set([
  'liveVirusConflict', 'vaccineGroup', 'vaccineGroupMap', 'antigen', 'cvxMap', 'association',
  'observation', 'codedValue', 'series', 'seriesDose', 'age', 'interval', 'allowableInterval',
  'preferableVaccine', 'allowableVaccine', 'inadvertentVaccine', 'conditionalSkip', 'set',
  'condition', 'indication', 'contraindication', 'contraindicatedVaccine', 'clinicalHistory',
  'dateOfBirth', 'exclusion', 'requiredGender', 'seriesAdminGuidance',
]);

const parser = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false, // CVX "03" and observation "007" stay strings
  trimValues: true,
  isArray: (name) => ARRAY_TAGS.has(name),
});

type Node = Record<string, unknown>;

function text(node: unknown, key: string): string | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const value = (node as Node)[key];
  if (value === undefined || value === null) return undefined;
  const s = typeof value === 'string' ? value : Array.isArray(value) ? String(value[0] ?? '') : '';
  const trimmed = s.trim();
  return trimmed === '' ? undefined : trimmed;
}

function list(node: unknown, key: string): Node[] {
  if (!node || typeof node !== 'object') return [];
  const value = (node as Node)[key];
  if (!Array.isArray(value)) return value && typeof value === 'object' ? [value as Node] : [];
  return value.filter((v): v is Node => !!v && typeof v === 'object');
}

function child(node: unknown, key: string): Node | undefined {
  if (!node || typeof node !== 'object') return undefined;
  const value = (node as Node)[key];
  if (Array.isArray(value)) return (value[0] as Node | undefined) ?? undefined;
  return value && typeof value === 'object' ? (value as Node) : undefined;
}

/** Text values of a repeated simple element (empty ones dropped). */
function strings(node: Node, key: string): string[] {
  const value = node[key];
  const values = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return values.map((v) => (typeof v === 'string' ? v.trim() : '')).filter((v) => v !== '');
}

function codes(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(/[;,]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function yes(value: string | undefined): boolean {
  return value?.toLowerCase() === 'yes' || value?.toUpperCase() === 'Y';
}

function lower(value: string | undefined, fallback = ''): string {
  return (value ?? fallback).trim().toLowerCase();
}

function parseAge(n: Node): AgeRule {
  return {
    absMinAge: parseDuration(text(n, 'absMinAge')),
    minAge: parseDuration(text(n, 'minAge')),
    earliestRecAge: parseDuration(text(n, 'earliestRecAge')),
    latestRecAge: parseDuration(text(n, 'latestRecAge')),
    maxAge: parseDuration(text(n, 'maxAge')),
    effectiveDate: parseSupportingDate(text(n, 'effectiveDate')),
    cessationDate: parseSupportingDate(text(n, 'cessationDate')),
  };
}

function parseInterval(n: Node): IntervalRule {
  const target = text(n, 'fromTargetDose');
  const mostRecent = codes(text(n, 'fromMostRecent'));
  return {
    fromPrevious: yes(text(n, 'fromPrevious')),
    fromTargetDose: target ? Number(target) : undefined,
    fromMostRecent: mostRecent.length > 0 ? mostRecent : undefined,
    fromRelevantObs: text(child(n, 'fromRelevantObs'), 'code'),
    absMinInt: parseDuration(text(n, 'absMinInt')),
    minInt: parseDuration(text(n, 'minInt')),
    earliestRecInt: parseDuration(text(n, 'earliestRecInt')),
    latestRecInt: parseDuration(text(n, 'latestRecInt')),
    priorityOverride: lower(text(n, 'intervalPriority')) === 'override',
    effectiveDate: parseSupportingDate(text(n, 'effectiveDate')),
    cessationDate: parseSupportingDate(text(n, 'cessationDate')),
  };
}

function parseVaccine(n: Node): VaccineRule {
  return {
    vaccineType: text(n, 'vaccineType') ?? '',
    cvx: text(n, 'cvx') ?? '',
    beginAge: parseDuration(text(n, 'beginAge')),
    endAge: parseDuration(text(n, 'endAge')),
    tradeName: text(n, 'tradeName'),
    mvx: text(n, 'mvx'),
    forecastVaccineType: yes(text(n, 'forecastVaccineType')),
  };
}

function parseSkip(n: Node): ConditionalSkip {
  return {
    context: lower(text(n, 'context'), 'both'),
    setLogic: lower(text(n, 'setLogic'), 'n/a'),
    sets: list(n, 'set').map((s) => ({
      id: text(s, 'setID') ?? '',
      description: text(s, 'setDescription') ?? '',
      effectiveDate: parseSupportingDate(text(s, 'effectiveDate')),
      cessationDate: parseSupportingDate(text(s, 'cessationDate')),
      conditionLogic: lower(text(s, 'conditionLogic'), 'and'),
      conditions: list(s, 'condition').map((c) => {
        const vaccineTypes = codes(text(c, 'vaccineTypes'));
        const count = text(c, 'doseCount');
        return {
          type: lower(text(c, 'conditionType')),
          startDate: parseSupportingDate(text(c, 'startDate')),
          endDate: parseSupportingDate(text(c, 'endDate')),
          beginAge: parseDuration(text(c, 'beginAge')),
          endAge: parseDuration(text(c, 'endAge')),
          interval: parseDuration(text(c, 'interval')),
          doseCount: count !== undefined ? Number(count) : undefined,
          doseType: text(c, 'doseType')?.toLowerCase(),
          doseCountLogic: text(c, 'doseCountLogic')?.toLowerCase(),
          vaccineTypes: vaccineTypes.length > 0 ? new Set(vaccineTypes) : undefined,
          seriesGroups: codes(text(c, 'seriesGroups')),
        };
      }),
    })),
  };
}

function parseSeriesDose(n: Node): SeriesDose {
  const seasonal = child(n, 'seasonalRecommendation');
  const preferableVaccines = list(n, 'preferableVaccine').map(parseVaccine).filter((v) => v.cvx !== '');
  return {
    doseNumber: Number(/(\d+)/.exec(text(n, 'doseNumber') ?? '')?.[1] ?? 0),
    ages: list(n, 'age').map(parseAge),
    intervals: list(n, 'interval').map(parseInterval),
    allowableIntervals: list(n, 'allowableInterval').map(parseInterval),
    preferableVaccines,
    allowableVaccines: list(n, 'allowableVaccine').map(parseVaccine).filter((v) => v.cvx !== ''),
    inadvertentVaccines: new Set(list(n, 'inadvertentVaccine').map((v) => text(v, 'cvx') ?? '').filter((c) => c !== '')),
    conditionalSkips: list(n, 'conditionalSkip').map(parseSkip).filter((s) => s.sets.length > 0),
    recurring: yes(text(n, 'recurringDose')),
    seasonalStart: parseSupportingDate(text(seasonal, 'startDate')),
    seasonalEnd: parseSupportingDate(text(seasonal, 'endDate')),
    forecastVaccineTypes: preferableVaccines.filter((v) => v.forecastVaccineType).map((v) => v.cvx),
  };
}

function parseSeries(n: Node): Series {
  const select = child(n, 'selectSeries');
  const doses = list(n, 'seriesDose').map(parseSeriesDose);
  return {
    name: text(n, 'seriesName') ?? '',
    antigen: text(n, 'targetDisease') ?? '',
    vaccineGroup: text(n, 'vaccineGroup') ?? '',
    type: lower(text(n, 'seriesType'), 'standard'),
    equivalentSeriesGroups: codes(text(n, 'equivalentSeriesGroups')),
    requiredGender: strings(n, 'requiredGender').map((g) => g.toLowerCase()),
    defaultSeries: yes(text(select, 'defaultSeries')),
    productPath: yes(text(select, 'productPath')),
    seriesGroupName: text(select, 'seriesGroupName') ?? '',
    seriesGroup: text(select, 'seriesGroup') ?? '1',
    seriesPriority: text(select, 'seriesPriority') ?? 'A',
    seriesPreference: Number(text(select, 'seriesPreference') ?? 1),
    minAgeToStart: parseDuration(text(select, 'minAgeToStart')),
    maxAgeToStart: parseDuration(text(select, 'maxAgeToStart')),
    indications: list(n, 'indication')
      .map((i) => ({
        code: text(child(i, 'observationCode'), 'code') ?? '',
        beginAge: parseDuration(text(i, 'beginAge')),
        endAge: parseDuration(text(i, 'endAge')),
      }))
      .filter((i) => i.code !== ''),
    doses,
    usesCompletedSeries: doses.some((d) =>
      d.conditionalSkips.some((s) => s.sets.some((set) => set.conditions.some((c) => c.type === 'completed series'))),
    ),
  };
}

function parseAntigen(xml: string): Antigen {
  const root = child(parser.parse(xml), 'antigenSupportingData');
  if (!root) throw new Error('not an antigenSupportingData document');
  const series = list(root, 'series').map(parseSeries);
  const immunity = child(root, 'immunity');
  const contraindications = child(root, 'contraindications');
  return {
    name: series[0]?.antigen ?? '',
    immunityObservationCodes: list(immunity, 'clinicalHistory')
      .map((c) => text(c, 'guidelineCode') ?? '')
      .filter((c) => c !== ''),
    immunityBirthDates: list(immunity, 'dateOfBirth').flatMap((d) => {
      const before = parseSupportingDate(text(d, 'immunityBirthDate'));
      if (before === undefined) return [];
      return [{
        before,
        country: text(d, 'birthCountry'),
        exclusions: list(d, 'exclusion').map((e) => text(e, 'exclusionCode') ?? '').filter((c) => c !== ''),
      }];
    }),
    groupContraindications: list(child(contraindications, 'vaccineGroup'), 'contraindication').map((c) => ({
      code: text(c, 'observationCode') ?? '',
      beginAge: parseDuration(text(c, 'beginAge')),
      endAge: parseDuration(text(c, 'endAge')),
    })),
    vaccineContraindications: list(child(contraindications, 'vaccine'), 'contraindication').map((c) => ({
      code: text(c, 'observationCode') ?? '',
      vaccines: list(c, 'contraindicatedVaccine').map((v) => ({
        cvx: text(v, 'cvx') ?? '',
        beginAge: parseDuration(text(v, 'beginAge')),
        endAge: parseDuration(text(v, 'endAge')),
      })),
    })),
    series,
  };
}

function parseSchedule(xml: string): Omit<SupportingData, 'antigens'> {
  const root = child(parser.parse(xml), 'scheduleSupportingData');
  if (!root) throw new Error('not a scheduleSupportingData document');
  const conflicts = new Map<string, LiveVirusConflict[]>();
  for (const c of list(child(root, 'liveVirusConflicts'), 'liveVirusConflict')) {
    const conflict: LiveVirusConflict = {
      previousCvx: text(child(c, 'previous'), 'cvx') ?? '',
      currentCvx: text(child(c, 'current'), 'cvx') ?? '',
      begin: parseDuration(text(c, 'conflictBeginInterval')) ?? [],
      minEnd: parseDuration(text(c, 'minConflictEndInterval')) ?? [],
      end: parseDuration(text(c, 'conflictEndInterval')) ?? [],
    };
    const bucket = conflicts.get(conflict.currentCvx) ?? [];
    bucket.push(conflict);
    conflicts.set(conflict.currentCvx, bucket);
  }
  const conflictsByPair = new Map<string, Map<string, LiveVirusConflict[]>>();
  for (const [current, list] of conflicts) {
    const byPrevious = new Map<string, LiveVirusConflict[]>();
    for (const c of list) byPrevious.set(c.previousCvx, [...(byPrevious.get(c.previousCvx) ?? []), c]);
    conflictsByPair.set(current, byPrevious);
  }
  const antigensOfGroup = new Map<string, string[]>();
  for (const m of list(child(root, 'vaccineGroupToAntigenMap'), 'vaccineGroupMap')) {
    const antigens = strings(m, 'antigen');
    antigensOfGroup.set(text(m, 'name') ?? '', antigens);
  }
  const vaccineGroups = list(child(root, 'vaccineGroups'), 'vaccineGroup').map((g) => {
    const name = text(g, 'name') ?? '';
    return {
      name,
      administerFullVaccineGroup: yes(text(g, 'administerFullVaccineGroup')),
      antigens: antigensOfGroup.get(name) ?? [],
    };
  });
  const cvxToAntigens = new Map<string, AntigenAssociation[]>();
  for (const m of list(child(root, 'cvxToAntigenMap'), 'cvxMap')) {
    cvxToAntigens.set(
      text(m, 'cvx') ?? '',
      list(m, 'association').map((a) => ({
        antigen: text(a, 'antigen') ?? '',
        beginAge: parseDuration(text(a, 'associationBeginAge')),
        endAge: parseDuration(text(a, 'associationEndAge')),
      })),
    );
  }
  const observations = new Map<string, Observation>();
  const observationsByCodedValue = new Map<string, string[]>();
  const observationVaccines = new Map<string, Set<string>>();
  for (const o of list(child(root, 'observations'), 'observation')) {
    const code = text(o, 'observationCode') ?? '';
    const codedValues = list(child(o, 'codedValues'), 'codedValue').map((v) => ({
      code: text(v, 'code') ?? '',
      codeSystem: text(v, 'codeSystem') ?? '',
    }));
    observations.set(code, { code, title: text(o, 'observationTitle') ?? '', codedValues });
    for (const v of codedValues) {
      const system = v.codeSystem.toUpperCase();
      if (system === 'CVX') {
        const cvx = /^\d+$/.test(v.code) ? v.code.padStart(2, '0') : v.code;
        observationVaccines.set(code, (observationVaccines.get(code) ?? new Set<string>()).add(cvx));
        continue;
      }
      const key = `${system}|${v.code}`;
      const listed = observationsByCodedValue.get(key) ?? [];
      if (!listed.includes(code)) listed.push(code);
      observationsByCodedValue.set(key, listed);
    }
  }
  return {
    vaccineGroups,
    cvxToAntigens,
    liveVirusConflicts: conflicts,
    liveVirusConflictsByPair: conflictsByPair,
    observations,
    observationsByCodedValue,
    observationVaccines,
  };
}

const isSupportingDataFile = (name: string) => /^(Schedule|Antigen)SupportingData.*\.xml$/i.test(name);

/**
 * SHA-256 (hex) of the supporting data files in dir, names and bytes: it changes when CDC's XML is
 * replaced, and costs a few milliseconds where parsing costs most of a second.
 */
export function supportingDataFingerprint(dir: string = DEFAULT_SUPPORTING_DATA_DIR): string {
  const hash = createHash('sha256');
  for (const name of readdirSync(dir).filter(isSupportingDataFile).sort()) {
    hash.update(`${name}\0`);
    hash.update(readFileSync(join(dir, name)));
    hash.update('\0');
  }
  return hash.digest('hex');
}

/** Parses a directory holding ScheduleSupportingData.xml and the AntigenSupportingData files. */
export function loadSupportingData(dir: string): SupportingData {
  const files = readdirSync(dir);
  const scheduleFile = files.find((f) => /^ScheduleSupportingData.*\.xml$/i.test(f));
  if (!scheduleFile) throw new Error(`no ScheduleSupportingData XML in ${dir}`);
  const schedule = parseSchedule(readFileSync(join(dir, scheduleFile), 'utf8'));
  const antigens = new Map<string, Antigen>();
  for (const f of files.filter((name) => /^AntigenSupportingData.*\.xml$/i.test(name)).sort()) {
    const antigen = parseAntigen(readFileSync(join(dir, f), 'utf8'));
    if (antigen.name) antigens.set(antigen.name, antigen);
  }
  return { ...schedule, antigens };
}

export const DEFAULT_SUPPORTING_DATA_DIR = fileURLToPath(new URL('../../profiles/cdsi/', import.meta.url));

let loaded: SupportingData | undefined;
/** The shipped supporting data (profiles/cdsi), parsed once per process. */
export function defaultSupportingData(): SupportingData {
  loaded ??= loadSupportingData(DEFAULT_SUPPORTING_DATA_DIR);
  return loaded;
}
