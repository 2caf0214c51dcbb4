import { describe, expect, it } from 'vitest';
import { DISCLOSURE_CHUNK, PatientDisclosures } from './disclosure.js';

describe('PatientDisclosures', () => {
  it('records one event per full chunk as patients come, the rest on flush, each patient once and in order', () => {
    const events: Array<{ refs: string[]; description: string }> = [];
    const disclosures = new PatientDisclosures((refs, description) => events.push({ refs: [...refs], description }), '$reminder-recall CSV', 3);
    for (let i = 1; i <= 7; i++) {
      disclosures.add(`p${i}`);
      // Never more than a chunk held: the event leaves as soon as the chunk is full.
      expect(events.length).toBe(Math.floor(i / 3));
    }
    disclosures.flush();
    disclosures.flush(); // nothing left: no empty event
    expect(events).toEqual([
      { refs: ['Patient/p1', 'Patient/p2', 'Patient/p3'], description: '$reminder-recall CSV: patients 1-3 (part 1)' },
      { refs: ['Patient/p4', 'Patient/p5', 'Patient/p6'], description: '$reminder-recall CSV: patients 4-6 (part 2)' },
      { refs: ['Patient/p7'], description: '$reminder-recall CSV: patients 7-7 (part 3)' },
    ]);
  });

  it('a 100,000-patient list is 100 events of DISCLOSURE_CHUNK patients', () => {
    const sizes: number[] = [];
    const disclosures = new PatientDisclosures((refs) => sizes.push(refs.length), 'list');
    for (let i = 0; i < 100_000; i++) disclosures.add(String(i));
    disclosures.flush();
    expect(DISCLOSURE_CHUNK).toBe(1000);
    expect(sizes.length).toBe(100);
    expect(sizes.every((n) => n === DISCLOSURE_CHUNK)).toBe(true);
  });
});
