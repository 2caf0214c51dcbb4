// Measure/{id}/$evaluate-measure (CONTRACT.md "Reminder/recall and coverage"): coverage of a
// population as a MeasureReport. Parameters (GET query or POST Parameters): periodEnd (required),
// periodStart (default: one year before periodEnd), subject (Organization/{id} or Group/{id};
// absent: every patient the caller may see), reportType summary (default) | subject-list.
// The initial population (an age range on periodEnd) is fetched by birth date, in batches, with
// the caller's data-sharing filter; each patient's history goes through the CDSi forecast limited
// to the measure's vaccine groups, and only doses CDSi calls valid count. Strata: age bands and
// ZIP codes. Memory: counters per stratum (plus the patient references for subject-list).
import type { List, Measure, MeasureReport, MeasureReportGroupPopulation, MeasureReportGroupStratifier, Parameters, Patient } from '@medplum/fhirtypes';
import { badRequest, notFound } from '../fhir/outcome.js';
import type { FhirRequest, FhirResponse, HandlerContext } from '../interactions/types.js';
import { cohortBatches, parseSubject, readsConditions, type CohortMember, type CohortSubject, type RunContext } from './cohort.js';
import { addDays, addMonths, ageInMonths, bornBetweenForAgeMonths, isDate } from './dates.js';
import { inThreadRunner, type ForecastRunner } from './forecast-runner.js';
import type { MeasureResult, PopulationTask } from './patient-task.js';
import { pipelined } from './pipelined.js';
import { parseMeasure, shippedMeasures, type MeasureDefinition } from './measure-definition.js';

const POPULATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/measure-population';
/** What may follow the day in a FHIR dateTime: `Thh:mm:ss[.fff](Z|±hh:mm)`. */
const DATE_TIME_TAIL = /^T([01]\d|2[0-3]):[0-5]\d:([0-5]\d|60)(\.\d+)?(Z|[+-]((0\d|1[0-3]):[0-5]\d|14:00))$/;
const BATCH = 250;

export interface EvaluateParams {
  periodStart: string;
  periodEnd: string;
  subject: CohortSubject;
  subjectReference?: string;
  reportType: 'summary' | 'subject-list';
  /** Read the patients' Conditions (the caller's token may read them). */
  conditions?: boolean;
}

export function readEvaluateParams(req: FhirRequest): EvaluateParams {
  const pairs: Array<[string, string]> = [...req.query];
  if (req.method === 'POST' && req.body !== undefined) {
    const params = req.body as Parameters;
    if (!params || typeof params !== 'object' || params.resourceType !== 'Parameters') throw badRequest('$evaluate-measure expects a Parameters resource (or GET with query parameters)');
    for (const p of params.parameter ?? []) {
      const v = p.valueDate ?? p.valueString ?? p.valueCode ?? p.valueReference?.reference;
      if (typeof v !== 'string') throw badRequest(`Parameter "${p.name}" needs a value (valueDate, valueString, valueCode or valueReference)`, { expression: p.name });
      pairs.push([p.name as string, v]);
    }
  }
  let periodStart: string | undefined;
  let periodEnd: string | undefined;
  let subjectReference: string | undefined;
  let reportType: EvaluateParams['reportType'] = 'summary';
  // Each parameter once (0..1 in $evaluate-measure): a second one is a 400, never silently preferred.
  const given = new Set<string>();
  for (const [name, value] of pairs) {
    if (given.has(name) && (name === 'periodStart' || name === 'periodEnd' || name === 'subject' || name === 'reportType')) {
      throw badRequest(`${name} is given more than once; give it once`, { expression: name });
    }
    given.add(name);
    switch (name) {
      case 'periodStart':
      case 'periodEnd': {
        const date = value.slice(0, 10);
        // A date, or a dateTime (its day): FHIR's dateTime with a time needs seconds and an offset.
        if (!isDate(date) || (value.length > 10 && !DATE_TIME_TAIL.test(value.slice(10)))) throw badRequest(`${name} must be a date YYYY-MM-DD, got "${value}"`, { expression: name });
        if (name === 'periodStart') periodStart = date;
        else periodEnd = date;
        break;
      }
      case 'subject':
        subjectReference = value;
        break;
      case 'reportType':
        if (value !== 'summary' && value !== 'subject-list') throw badRequest(`reportType must be summary or subject-list, got "${value}"`, { expression: 'reportType' });
        reportType = value;
        break;
      default:
        if (req.prefer.handling !== 'lenient') throw badRequest(`Unknown $evaluate-measure parameter "${name}"`, { expression: name });
    }
  }
  if (!periodEnd) throw badRequest('periodEnd (YYYY-MM-DD) is required', { expression: 'periodEnd' });
  periodStart ??= addDays(addMonths(periodEnd, -12), 1);
  if (periodStart > periodEnd) throw badRequest('periodStart is after periodEnd', { expression: 'periodStart' });
  const subject: CohortSubject = subjectReference ? parseSubject(subjectReference) : { kind: 'all' };
  return { periodStart, periodEnd, subject, subjectReference: subject.kind === 'all' ? undefined : subject.reference, reportType };
}

export async function loadMeasure(ctx: RunContext, id: string): Promise<Measure> {
  const stored = await ctx.store.read('Measure', id);
  if (stored && !stored.deleted && stored.resource) return stored.resource as Measure;
  const shipped = shippedMeasures().get(id);
  if (!shipped) throw notFound(`Measure/${id} is not known to this server (shipped: ${[...shippedMeasures().keys()].join(', ')})`);
  return shipped;
}

interface Tally {
  initial: number;
  numerator: number;
  initialRefs?: string[];
  numeratorRefs?: string[];
}

const newTally = (list: boolean): Tally => (list ? { initial: 0, numerator: 0, initialRefs: [], numeratorRefs: [] } : { initial: 0, numerator: 0 });

function months(n: number, unit: 'months' | 'years'): number {
  return unit === 'years' ? n * 12 : n;
}

function zipOf(p: Patient): string {
  const a = p.address?.find((x) => x.use === 'home') ?? p.address?.[0];
  const zip = (a?.postalCode ?? '').replace(/\D/g, '').slice(0, 5);
  return zip.length === 5 ? zip : 'unknown';
}

export function evaluateMeasureHandler(runner: ForecastRunner = inThreadRunner) {
  return async (req: FhirRequest, ctx: HandlerContext): Promise<FhirResponse> => {
    if (req.resourceType !== 'Measure' || req.id === undefined) throw badRequest('$evaluate-measure is invoked on a Measure: /fhir/Measure/{id}/$evaluate-measure');
    const params = { ...readEvaluateParams(req), conditions: readsConditions(ctx.caller) };
    const def = parseMeasure(await loadMeasure(ctx, req.id));
    return { status: 200, body: await evaluate(ctx, def, params, runner) };
  };
}

export const evaluateMeasureOperation = evaluateMeasureHandler();

export async function evaluate(ctx: RunContext, def: MeasureDefinition, p: EvaluateParams, runner: ForecastRunner, signal?: AbortSignal): Promise<MeasureReport> {
  const list = p.reportType === 'subject-list';
  const minMonths = months(def.population.min, def.population.unit);
  const maxMonths = months(def.population.max, def.population.unit) + (def.population.unit === 'years' ? 11 : 0);
  const total = newTally(list);
  const strata = def.stratifiers.map(() => new Map<string, Tally>());
  const cohort = cohortBatches(ctx.store, p.subject, { batchSize: BATCH, conditions: p.conditions === true, ...bornBetweenForAgeMonths(p.periodEnd, minMonths, maxMonths) });
  const task: PopulationTask = { kind: 'measure', periodEnd: p.periodEnd, numerator: def.numerator, vaccineGroups: def.vaccineGroups };
  // While a worker thread forecasts one batch, the next is read from the store (pipelined.ts).
  const evaluated = pipelined(cohort, async (batch: CohortMember[]) => {
    const inRange = batch.filter((m) => {
      const age = m.patient.birthDate && isDate(m.patient.birthDate) ? ageInMonths(m.patient.birthDate, p.periodEnd) : -1;
      return age >= minMonths && age <= maxMonths;
    });
    const hits = await runner(task, inRange);
    return inRange.map((m, i) => ({ patient: m.patient, hit: hits[i] as MeasureResult }));
  });
  for await (const batch of evaluated) {
    signal?.throwIfAborted();
    for (const { patient, hit } of batch) {
      if (hit === undefined) continue;
      const ref = `Patient/${patient.id}`;
      const keys = def.stratifiers.map((s) => {
        if (s.kind === 'zip') return zipOf(patient);
        const age = ageInMonths(patient.birthDate as string, p.periodEnd);
        const inUnit = s.unit === 'years' ? Math.floor(age / 12) : age;
        return s.bands.find((b) => inUnit >= b.min && inUnit <= b.max)?.label ?? 'other';
      });
      const tallies = [total, ...keys.map((k, j) => strata[j].get(k) ?? strata[j].set(k, newTally(list)).get(k)!)];
      for (const t of tallies) {
        t.initial++;
        t.initialRefs?.push(ref);
        if (hit) {
          t.numerator++;
          t.numeratorRefs?.push(ref);
        }
      }
    }
  }
  return report(ctx, def, p, total, strata);
}

function report(ctx: RunContext, def: MeasureDefinition, p: EvaluateParams, total: Tally, strata: Array<Map<string, Tally>>): MeasureReport {
  const contained: List[] = [];
  const populations = (t: Tally, prefix: string): MeasureReportGroupPopulation[] =>
    (
      [
        ['initial-population', t.initial, t.initialRefs],
        ['denominator', t.initial, t.initialRefs],
        ['numerator', t.numerator, t.numeratorRefs],
      ] as const
    ).map(([code, count, refs]) => {
      const pop: MeasureReportGroupPopulation = { code: { coding: [{ system: POPULATION_SYSTEM, code }] }, count };
      if (refs) {
        const id = `${prefix}${code}`;
        // An empty population's List has no entry at all (FHIR ele-1: no empty arrays).
        contained.push({ resourceType: 'List', id, status: 'current', mode: 'snapshot', ...(refs.length > 0 ? { entry: refs.map((reference) => ({ item: { reference } })) } : {}) });
        pop.subjectResults = { reference: `#${id}` };
      }
      return pop;
    });
  const score = (t: Tally) => (t.initial > 0 ? { measureScore: { value: Math.round((t.numerator / t.initial) * 10000) / 10000 } } : {});
  const stratifier: MeasureReportGroupStratifier[] = def.stratifiers.map((s, j) => {
    const stratum = [...strata[j].entries()]
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([value, t], k) => ({ value: { text: value }, population: populations(t, `s${j}-${k}-`), ...score(t) }));
    // No patient in the population: the stratifier names its code and has no stratum (FHIR
    // ele-1: `stratum: []` is refused by validators).
    return { code: [{ text: s.code }], ...(stratum.length > 0 ? { stratum } : {}) };
  });
  const group = [{ population: populations(total, ''), ...score(total), stratifier }];
  return {
    resourceType: 'MeasureReport',
    ...(contained.length > 0 ? { contained } : {}),
    status: 'complete',
    type: p.reportType,
    measure: def.measure.url ?? `${ctx.baseUrl}/Measure/${def.measure.id}`,
    ...(p.subjectReference ? { subject: { reference: p.subjectReference } } : {}),
    date: new Date().toISOString(),
    period: { start: p.periodStart, end: p.periodEnd },
    group,
  } as MeasureReport;
}
