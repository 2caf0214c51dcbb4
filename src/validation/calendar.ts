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

const TIME_PART = /T(\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * Why the time of a dateTime or instant is incomplete, or undefined when it has none or is
 * complete. R4: "If hours and minutes are specified, a time zone SHALL be populated", and seconds
 * are required (the format's regex). Without a zone, 10:00 names no instant: stored as is, it
 * would be read as UTC (searches, the future-date rule) whatever the sender meant.
 */
export function timeProblem(value: string): string | undefined {
  const m = TIME_PART.exec(value);
  if (!m || !/^\d{4}-\d{2}-\d{2}T/.test(value)) return undefined;
  const [, time, zone] = m;
  // Hours and minutes themselves missing or malformed are the format check's to report.
  if (time === undefined) return undefined;
  const missing = [time.length < 8 ? 'seconds' : undefined, zone ? undefined : 'a time zone (Z or +hh:mm / -hh:mm)'].filter(Boolean);
  if (missing.length === 0) return undefined;
  return `a time needs ${missing.join(' and ')}, e.g. ${value.slice(0, 10)}T${time.slice(0, 5)}:${time.length >= 8 ? time.slice(6, 8) : '00'}-05:00`;
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
