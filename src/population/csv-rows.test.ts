// The reminder/recall CSV row of a patient whose submitted name, phone and address a spreadsheet
// would otherwise run as formulas (src/csv/cell.ts).
import type { ImmunizationRecommendation } from '@medplum/fhirtypes';
import { describe, expect, it } from 'vitest';
import { csvRows } from './reminder-recall.js';

describe('csvRows', () => {
  it('names, phones and addresses a submitter sent as formulas are written as text; a phone with its + stays', () => {
    const rows = csvRows({
      patient: {
        resourceType: 'Patient',
        id: 'p1',
        birthDate: '2024-01-02',
        name: [{ family: 'Smith', given: ['=HYPERLINK("http://x")'] }],
        telecom: [{ system: 'phone', value: '+1 (517) 555-0101' }],
        address: [{ line: ['@SUM(1+1)'], city: 'Lansing' }],
      },
      items: [{ vaccineGroup: 'MMR', dose: 1, recommended: '2025-01-02', pastDue: '2025-02-02', status: 'overdue', entry: {} as never }],
      recommendation: {} as ImmunizationRecommendation,
    });
    expect(rows).toEqual([`p1,"'=HYPERLINK(""http://x"") Smith",2024-01-02,+1 (517) 555-0101,"'@SUM(1+1), Lansing",MMR,1,2025-01-02,2025-02-02,overdue`]);
  });
});
