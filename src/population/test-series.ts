// Test data shared by the population tests: a full childhood series by the second birthday
// (HepB 0/1/6, DTaP 2/4/6/15, IPV 2/4/6, Hib 2/4/6/12, PCV 2/4/6/12, MMR 12, varicella 12), as
// [CVX, age in months] — in childhood-combined-7's numerator, nothing due after it but the seasonal
// and later groups.
export const FULL_CHILDHOOD_SERIES: ReadonlyArray<readonly [cvx: string, months: number]> = [
  ['08', 0], ['08', 1], ['08', 6],
  ['20', 2], ['20', 4], ['20', 6], ['20', 15],
  ['10', 2], ['10', 4], ['10', 6],
  ['48', 2], ['48', 4], ['48', 6], ['48', 12],
  ['133', 2], ['133', 4], ['133', 6], ['133', 12],
  ['03', 12], ['21', 12],
];
