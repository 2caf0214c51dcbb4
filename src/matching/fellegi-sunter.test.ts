import { describe, expect, it } from 'vitest';
import { cutPoints, emWeights, objective, scoreFile, totalWeight, weightsFrom } from './fellegi-sunter.js';

const pair = (first: string, birth: string, p: number, n = 1) => ({ levels: [`name.given=${first}`, `birthDate=${birth}`], p, n });

describe('Fellegi–Sunter weights', () => {
  it('log2(m/u) per level: agreement common among positives weighs for, rare agreement against', () => {
    const t = weightsFrom([pair('agree', 'agree', 1, 90), pair('conflict', 'agree', 1, 10), pair('conflict', 'agree', 0, 50), pair('conflict', 'conflict', 0, 50)]);
    expect(t.weights['name.given=agree']).toBeGreaterThan(3);
    expect(t.weights['name.given=conflict']).toBeLessThan(-2);
    expect(t.weights['birthDate=conflict']).toBeLessThan(-4);
    expect(t.prior).toBe(0); // 100 positives, 100 negatives
    expect(totalWeight(t, ['name.given=agree', 'birthDate=agree'])).toBeGreaterThan(totalWeight(t, ['name.given=conflict', 'birthDate=agree']));
  });

  it('EM without labels finds the same direction as the labels', () => {
    const rows = [...Array(60).fill(pair('agree', 'agree', 0)), ...Array(60).fill(pair('conflict', 'conflict', 0)), ...Array(10).fill(pair('agree', 'conflict', 0))];
    const t = emWeights(rows, (levels) => (levels.includes('name.given=agree') ? 0.7 : 0.3));
    expect(t.weights['name.given=agree']).toBeGreaterThan(0);
    expect(t.weights['birthDate=agree']).toBeGreaterThan(0);
    expect(t.weights['birthDate=conflict']).toBeLessThan(0);
  });
});

describe('threshold choice', () => {
  it('scores a file the way the evaluation does, and the objective punishes a certain on Not a Match', () => {
    const good = scoreFile([
      { label: 'Match', grade: 'certain' },
      { label: 'Possible Match', grade: 'probable' },
      { label: 'Not a Match', grade: 'none' },
    ]);
    expect(good).toMatchObject({ right: 2, n: 2, pmReview: 1, pmCertain: 0, certainOnNotMatch: 0 });
    const bad = scoreFile([
      { label: 'Match', grade: 'certain' },
      { label: 'Possible Match', grade: 'probable' },
      { label: 'Not a Match', grade: 'certain' },
    ]);
    expect(bad.certainOnNotMatch).toBe(1);
    expect(objective([bad])).toBeLessThan(objective([good]));
  });

  it('cut points lie between the distinct totals', () => {
    expect(cutPoints([3, 1, 2, 2])).toEqual([0.999, 1.5, 2.5, 3.001]);
  });
});
