// Calendar arithmetic on YYYY-MM-DD dates for population runs (ages and age bands).
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

export function isDate(value: string): boolean {
  const m = DATE.exec(value);
  if (!m) return false;
  const d = new Date(Date.UTC(+m[1], +m[2] - 1, +m[3]));
  return d.getUTCFullYear() === +m[1] && d.getUTCMonth() === +m[2] - 1 && d.getUTCDate() === +m[3];
}

function parts(date: string): [number, number, number] {
  const m = DATE.exec(date);
  if (!m) throw new Error(`not a date: ${date}`);
  return [+m[1], +m[2], +m[3]];
}

function format(y: number, m: number, d: number): string {
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
}

/** date + n months (n may be negative); a day past the month's end becomes its last day (Feb 29 → Feb 28). */
export function addMonths(date: string, n: number): string {
  const [y, m, d] = parts(date);
  const total = y * 12 + (m - 1) + n;
  const ny = Math.floor(total / 12);
  const nm = total - ny * 12 + 1;
  const last = new Date(Date.UTC(ny, nm, 0)).getUTCDate();
  return format(ny, nm, Math.min(d, last));
}

export function addDays(date: string, n: number): string {
  const [y, m, d] = parts(date);
  const t = new Date(Date.UTC(y, m - 1, d + n));
  return format(t.getUTCFullYear(), t.getUTCMonth() + 1, t.getUTCDate());
}

/** Whole months of age on a date (the birthday month counts once the day is reached). */
export function ageInMonths(birthDate: string, on: string): number {
  const [by, bm, bd] = parts(birthDate);
  const [y, m, d] = parts(on);
  let months = (y - by) * 12 + (m - bm);
  if (d < bd && addMonths(birthDate, months) > on) months--;
  return months;
}

/** Birth dates of people aged min..max whole months on a date (inclusive both ends). */
export function bornBetweenForAgeMonths(on: string, minMonths: number, maxMonths: number): { bornFrom: string; bornTo: string } {
  return { bornFrom: addDays(addMonths(on, -(maxMonths + 1)), 1), bornTo: addMonths(on, -minMonths) };
}
