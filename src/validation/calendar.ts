// Calendar validity of FHIR date, dateTime and instant values. The format (the FHIR regex: months
// 01–12, days 01–31, hours, minutes, offsets up to ±14:00) is checked by the @medplum/core
// validator; this adds what a regex cannot: the day exists in that month of that year
// (2020-02-30, 2019-02-29 and 2021-04-31 do not).

const DATE_TIME = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T.*)?)?)?$/;

export const CALENDAR_TYPES: ReadonlySet<string> = new Set(['date', 'dateTime', 'instant']);

function daysIn(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/**
 * Why `value` is not a date on the calendar, or undefined when it is one (or when its format is
 * not a date at all: that is the format check's to report).
 */
export function calendarProblem(value: string): string | undefined {
  const m = DATE_TIME.exec(value);
  if (!m) return undefined;
  const [, y, mo, d] = m;
  if (mo === undefined || d === undefined) return undefined;
  const month = Number(mo);
  const day = Number(d);
  // Months and days outside 01–12 / 01–31 are format errors (the regex's to report).
  if (month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  if (day > daysIn(Number(y), month)) return `${y}-${mo} has no day ${d}`;
  return undefined;
}
