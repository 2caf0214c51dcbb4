// Floors on every labelled AIRA/MIIS file (issue 12): fails when a change to the comparators, the
// safety rules or the calibrated line moves any file's figures below what was measured on
// 2026-12-06, session 4 (README "Evaluation"; floors are the figures rounded down to 0.1,
// ceilings up). Session 12 lowered two by one pair (MIIS-E2, MIIS-C): a twin whose birth order is
// open on one record and whose first name differs goes to review (D-218), as issue 12 asks, where
// these files say Not a Match. Each distinct pair is compared once, then every file's labels
// are scored, so the eleven files cost about one file's time.
//
// Files whose labels disagree with the other labellers on the same pairs (MIIS-B, MIIS-C, MIIS-D,
// MIIS-E) have lower floors: no single decision can reach 97 % on them and on the others at once
// (see README "Evaluation", the label ceiling).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parsePairFile, toPatient } from './aira.js';
import { comparePatients } from './compare.js';
import { addTo, type FileScore } from './fellegi-sunter.js';
import type { MatchGrade } from './types.js';

const DIR = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'patient-matching');

/** file → [Match + Not a Match right ≥ %, certain on Not a Match ≤, Possible Match certain ≤ %, Possible Match to review ≥ %] */
const FLOORS: Record<string, [number, number, number, number]> = {
  'AIRA-A.txt': [99.3, 0, 2.5, 96.3],
  'AIRA-B.txt': [98.2, 0, 2.5, 95.6],
  'Dev-Test-2015-01-01.txt': [97.4, 0, 0.2, 98.8],
  'MIIS-E2.txt': [97.8, 0, 0.5, 98.2],
  'MIIS-E3.txt': [97.3, 0, 0.4, 98.3],
  'MIIS-F1.txt': [97.3, 0, 0.4, 98.2],
  'MIIS-F2.txt': [97.1, 0, 0.4, 97.4],
  'MIIS-B.txt': [88.9, 3, 9.1, 86.4],
  'MIIS-C.txt': [87.6, 13, 6.4, 88.4],
  'MIIS-D.txt': [90.9, 0, 0.1, 98.4],
  'MIIS-E.txt': [90.9, 0, 0.5, 97.8],
};

describe('every labelled file stays at or above its measured figures', () => {
  const grades = new Map<string, MatchGrade>();
  const scores = new Map<string, FileScore>();
  for (const file of readdirSync(DIR).filter((f) => f.endsWith('.txt'))) {
    const s: FileScore = { right: 0, n: 0, certainOnNotMatch: 0, pmCertain: 0, pmReview: 0, pm: 0 };
    for (const p of parsePairFile(readFileSync(join(DIR, file), 'utf8'))) {
      if (p.expect === 'Not Sure') continue;
      const key = JSON.stringify([p.a, p.b]);
      let grade = grades.get(key);
      if (grade === undefined) {
        grade = comparePatients(toPatient(p.a, 'A'), toPatient(p.b, 'B')).grade;
        grades.set(key, grade);
      }
      addTo(s, p.expect, grade);
    }
    scores.set(file, s);
  }

  it('knows every fixture file', () => {
    expect([...scores.keys()].sort()).toEqual(Object.keys(FLOORS).sort());
  });

  for (const [file, [accuracy, certainOnNot, pmCertain, pmReview]] of Object.entries(FLOORS)) {
    it(`${file}: M+N ≥ ${accuracy} %, certain on Not a Match ≤ ${certainOnNot}, PM certain ≤ ${pmCertain} %, PM to review ≥ ${pmReview} %`, () => {
      const s = scores.get(file)!;
      expect((100 * s.right) / s.n).toBeGreaterThanOrEqual(accuracy);
      expect(s.certainOnNotMatch).toBeLessThanOrEqual(certainOnNot);
      expect((100 * s.pmCertain) / s.pm).toBeLessThanOrEqual(pmCertain);
      expect((100 * s.pmReview) / s.pm).toBeGreaterThanOrEqual(pmReview);
    });
  }
});
