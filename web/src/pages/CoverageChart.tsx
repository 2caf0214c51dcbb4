// A bar chart of coverage by vaccine and age group, drawn as SVG (no chart library needed): one
// bar per shipped measure and, under it, one per age band of its stratifier; the same figures as
// a table for screen readers and anyone who prefers numbers.
import { Table, Text } from '@mantine/core';
import { TableScroll } from '../ui';

export const MEASURES = [
  { id: 'childhood-combined-7', vaccine: 'Combined 7-series (DTaP, Polio, MMR, Hib, HepB, Varicella, PCV)', short: 'Childhood 7-series', age: 'Children 24–35 months', unit: 'months' },
  { id: 'adolescent-tdap', vaccine: 'Tdap', short: 'Tdap', age: 'Adolescents 13–17 years', unit: 'years' },
  { id: 'adolescent-mening', vaccine: 'Meningococcal', short: 'Meningococcal', age: 'Adolescents 13–17 years', unit: 'years' },
  { id: 'adolescent-hpv-utd', vaccine: 'HPV up to date', short: 'HPV up to date', age: 'Adolescents 13–17 years', unit: 'years' },
] as const;

export interface CoverageFigure {
  numerator: number;
  denominator: number;
  score: number;
}

export interface CoverageBar extends CoverageFigure {
  id: string;
  vaccine: string;
  short: string;
  age: string;
  /** Age bands of the measure's stratifier, e.g. "24-29 months". */
  bands: Array<CoverageFigure & { label: string }>;
}

const WIDTH = 640;
const BAR = 26;
const GAP = 10;
const LABEL = 220;
const pct = (score: number) => Math.round(score * 1000) / 10;
const fill = (p: number) => (p >= 90 ? '#2b8a3e' : p >= 70 ? '#a05a00' : '#c92a2a');

export function CoverageChart({ bars }: { bars: CoverageBar[] }) {
  const rows = bars.flatMap((b) => [
    { key: b.id, title: b.short, sub: b.age, figure: b as CoverageFigure, band: false },
    ...b.bands.map((band) => ({ key: `${b.id}-${band.label}`, title: `   ${band.label}`, sub: '', figure: band as CoverageFigure, band: true })),
  ]);
  const height = rows.length * (BAR + GAP) + 34;
  const scale = (WIDTH - LABEL - 110) / 100;
  return (
    <figure style={{ margin: '1rem 0' }}>
      <svg viewBox={`0 0 ${WIDTH} ${height}`} width="100%" style={{ maxWidth: WIDTH }} role="img" aria-labelledby="coverage-caption">
        {[0, 25, 50, 75, 100].map((tick) => (
          <g key={tick}>
            <line x1={LABEL + tick * scale} x2={LABEL + tick * scale} y1={0} y2={height - 26} stroke="#adb5bd" strokeDasharray="3 3" />
            <text x={LABEL + tick * scale} y={height - 8} fontSize="12" textAnchor="middle" fill="#212529">
              {tick}%
            </text>
          </g>
        ))}
        {rows.map((r, i) => {
          const y = i * (BAR + GAP) + 4;
          const p = pct(r.figure.score);
          const width = Math.max(p * scale, 1);
          return (
            <g key={r.key}>
              <text x={r.band ? 16 : 0} y={y + (r.sub ? 11 : 17)} fontSize={r.band ? 12 : 13} fontWeight={r.band ? 400 : 700} fill="#212529">
                {r.title.trim()}
              </text>
              {r.sub && (
                <text x={0} y={y + 25} fontSize="11" fill="#495057">
                  {r.sub}
                </text>
              )}
              <rect x={LABEL} y={y + (r.band ? 4 : 0)} width={width} height={r.band ? BAR - 8 : BAR} fill={fill(p)} opacity={r.band ? 0.75 : 1} />
              <text x={LABEL + width + 6} y={y + 17} fontSize="12" fill="#212529">
                {r.figure.denominator === 0 ? 'no patients' : `${p}% (${r.figure.numerator}/${r.figure.denominator})`}
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption id="coverage-caption">
        <Text size="sm">Coverage by vaccine and age group: share of the practice’s patients in each group who are up to date, with each age band below its measure.</Text>
      </figcaption>
      <TableScroll label="Coverage figures">
        <Table withTableBorder mt="sm" aria-label="Coverage figures">
          <Table.Thead>
            <Table.Tr>
              <Table.Th scope="col">Vaccine</Table.Th>
              <Table.Th scope="col">Age group</Table.Th>
              <Table.Th scope="col">Up to date</Table.Th>
              <Table.Th scope="col">Patients</Table.Th>
              <Table.Th scope="col">Coverage</Table.Th>
            </Table.Tr>
          </Table.Thead>
          <Table.Tbody>
            {bars.flatMap((b) => [
              <Table.Tr key={b.id}>
                <Table.Th scope="row">{b.vaccine}</Table.Th>
                <Table.Td>{b.age}</Table.Td>
                <Table.Td>{b.numerator}</Table.Td>
                <Table.Td>{b.denominator}</Table.Td>
                <Table.Td>{pct(b.score)}%</Table.Td>
              </Table.Tr>,
              ...b.bands.map((band) => (
                <Table.Tr key={`${b.id}-${band.label}`}>
                  <Table.Th scope="row">{b.short}</Table.Th>
                  <Table.Td>{band.label}</Table.Td>
                  <Table.Td>{band.numerator}</Table.Td>
                  <Table.Td>{band.denominator}</Table.Td>
                  <Table.Td>{band.denominator ? `${pct(band.score)}%` : '—'}</Table.Td>
                </Table.Tr>
              )),
            ])}
          </Table.Tbody>
        </Table>
      </TableScroll>
    </figure>
  );
}
