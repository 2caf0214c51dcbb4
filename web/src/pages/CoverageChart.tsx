// A bar chart of coverage by vaccine and age group, drawn as SVG (no chart library needed), with
// the same figures as a table for screen readers and anyone who prefers numbers.
import { Table, Text } from '@mantine/core';

export const MEASURES = [
  { id: 'childhood-combined-7', vaccine: 'Combined 7-series (DTaP, Polio, MMR, Hib, HepB, Varicella, PCV)', age: 'Children by 24 months' },
  { id: 'adolescent-tdap', vaccine: 'Tdap', age: 'Adolescents 13–17 years' },
  { id: 'adolescent-mening', vaccine: 'Meningococcal', age: 'Adolescents 13–17 years' },
  { id: 'adolescent-hpv-utd', vaccine: 'HPV up to date', age: 'Adolescents 13–17 years' },
] as const;

export interface CoverageBar {
  id: string;
  vaccine: string;
  age: string;
  numerator: number;
  denominator: number;
  score: number;
}

const WIDTH = 640;
const BAR_HEIGHT = 34;
const GAP = 18;
const LABEL = 210;

export function CoverageChart({ bars }: { bars: CoverageBar[] }) {
  const height = bars.length * (BAR_HEIGHT + GAP) + 30;
  const scale = (WIDTH - LABEL - 60) / 100;
  const short = (b: CoverageBar) => `${b.vaccine.split(' (')[0]}`;
  return (
    <figure style={{ margin: '1rem 0' }}>
      <svg viewBox={`0 0 ${WIDTH} ${height}`} width="100%" style={{ maxWidth: WIDTH }} role="img" aria-labelledby="coverage-caption">
        {[0, 25, 50, 75, 100].map((tick) => (
          <g key={tick}>
            <line x1={LABEL + tick * scale} x2={LABEL + tick * scale} y1={0} y2={height - 24} stroke="#adb5bd" strokeDasharray="3 3" />
            <text x={LABEL + tick * scale} y={height - 8} fontSize="12" textAnchor="middle" fill="#212529">
              {tick}%
            </text>
          </g>
        ))}
        {bars.map((b, i) => {
          const y = i * (BAR_HEIGHT + GAP) + 6;
          const pct = Math.round(b.score * 1000) / 10;
          return (
            <g key={b.id}>
              <text x={0} y={y + 14} fontSize="13" fill="#212529">
                {short(b)}
              </text>
              <text x={0} y={y + 30} fontSize="11" fill="#495057">
                {b.age}
              </text>
              <rect x={LABEL} y={y} width={Math.max(pct * scale, 1)} height={BAR_HEIGHT} fill={pct >= 90 ? '#2b8a3e' : pct >= 70 ? '#e67700' : '#c92a2a'} />
              <text x={LABEL + Math.max(pct * scale, 1) + 6} y={y + 22} fontSize="13" fill="#212529">
                {pct}%
              </text>
            </g>
          );
        })}
      </svg>
      <figcaption id="coverage-caption">
        <Text size="sm">Coverage by vaccine and age group: share of the practice’s patients in each group who are up to date.</Text>
      </figcaption>
      <div className="table-scroll">
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
            {bars.map((b) => (
              <Table.Tr key={b.id}>
                <Table.Td>{b.vaccine}</Table.Td>
                <Table.Td>{b.age}</Table.Td>
                <Table.Td>{b.numerator}</Table.Td>
                <Table.Td>{b.denominator}</Table.Td>
                <Table.Td>{Math.round(b.score * 1000) / 10}%</Table.Td>
              </Table.Tr>
            ))}
          </Table.Tbody>
        </Table>
      </div>
    </figure>
  );
}
