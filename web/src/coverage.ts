// A MeasureReport (Measure/{id}/$evaluate-measure) as the coverage chart's bar for one measure,
// with one figure per age band of the measure's age stratifier.
import type { MeasureReport } from './fhir-types';
import type { CoverageBar, CoverageFigure } from './pages/CoverageChart';

/** A shipped measure as the chart names it (pages/CoverageChart.tsx MEASURES). */
export interface MeasureInfo {
  id: string;
  vaccine: string;
  short: string;
  age: string;
  unit: string;
}

type PopulationLike = { population?: Array<{ code?: { coding?: Array<{ code?: string }> }; count?: number }>; measureScore?: { value?: number } };

function figure(part: PopulationLike | undefined): CoverageFigure {
  const count = (code: string) => part?.population?.find((p) => p.code?.coding?.some((c) => c.code === code))?.count ?? 0;
  // The denominator is the initial population when the report gives no separate denominator.
  const denominator = count('denominator') || count('initial-population');
  const numerator = count('numerator');
  return { numerator, denominator, score: part?.measureScore?.value ?? (denominator ? numerator / denominator : 0) };
}

/** One measure's MeasureReport as a bar, with its age-band strata. */
export function coverageBar(report: MeasureReport, measure: MeasureInfo): CoverageBar {
  const group = report.group?.[0];
  const ageBands = group?.stratifier?.find((s) => s.code?.some((c) => /age/i.test(c.text ?? '')));
  const { unit: _unit, ...names } = measure;
  return {
    ...names,
    ...figure(group),
    bands: (ageBands?.stratum ?? [])
      .filter((s) => s.value?.text && s.value.text !== 'other')
      .map((s) => ({ label: /[a-z]/i.test(s.value?.text ?? '') ? (s.value?.text as string) : `${s.value?.text} ${measure.unit}`, ...figure(s) })),
  };
}

