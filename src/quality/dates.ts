// FHIR date / dateTime comparison for the data-quality rules, at the precision the values carry.
// - Calendar dates compare as written (a dose given 2020-05-17T23:30-05:00 was given on
//   2020-05-17, the day of a 2020-05-17 birth), at the coarser precision of the two: 2020-05 is
//   neither before nor after 2020-05-17.
// - Two values that both carry a time (and an offset) compare as instants.
// - "In the future" is judged against today in the time zone furthest ahead (UTC+14) for dates,
//   so a dose given today anywhere on Earth is never in the future; instants against now plus a
//   small clock-skew allowance.

export type Precision = 'year' | 'month' | 'day' | 'time';

export interface FhirDate {
  /** As written: YYYY, YYYY-MM or YYYY-MM-DD (the local calendar date of a dateTime). */
  date: string;
  precision: Precision;
  /** Epoch ms when the value has a time and an offset. */
  instant?: number;
}

/** Allowance for submitters' clocks running ahead of ours. */
export const CLOCK_SKEW_MS = 5 * 60_000;
/** The furthest time zones from UTC: Line Islands (+14:00) and Baker Island (-12:00). */
export const MAX_OFFSET_AHEAD_MIN = 14 * 60;
export const MAX_OFFSET_BEHIND_MIN = -12 * 60;

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** Parses a FHIR date, dateTime or instant; undefined when it is none of them. */
export function parseFhirDate(value: unknown): FhirDate | undefined {
  if (typeof value !== 'string') return undefined;
  const m = DATE_RE.exec(value.trim());
  if (!m) return undefined;
  const [, y, mo, d, hh, mm, ss, tz] = m;
  if (mo !== undefined && (Number(mo) < 1 || Number(mo) > 12)) return undefined;
  if (d !== undefined && (Number(d) < 1 || Number(d) > daysIn(Number(y), Number(mo)))) return undefined;
  if (d === undefined) return mo === undefined ? { date: y!, precision: 'year' } : { date: `${y}-${mo}`, precision: 'month' };
  const date = `${y}-${mo}-${d}`;
  if (hh === undefined) return { date, precision: 'day' };
  if (tz === undefined) return { date, precision: 'day' }; // a time without offset: only the day is certain
  const offsetMin = tz === 'Z' ? 0 : (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6)));
  const local = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(hh), Number(mm), Number(ss ?? 0));
  return { date, precision: 'time', instant: local - offsetMin * 60_000 };
}

/**
 * Days in a month (1-12) as `new Date(Date.UTC(year, month, 0)).getUTCDate()` gives them, without
 * a Date: Date.UTC reads years 0-99 as 1900-1999 (so 0000-02 has 28 days here, as it always had),
 * other years as proleptic Gregorian. dates.test.ts compares both for every year 0-9999.
 */
export function daysIn(year: number, month: number): number {
  if (month === 2) {
    const y = year >= 0 && year <= 99 ? 1900 + year : year;
    return y % 4 === 0 && (y % 100 !== 0 || y % 400 === 0) ? 29 : 28;
  }
  return month === 4 || month === 6 || month === 9 || month === 11 ? 30 : 31;
}

const LENGTH: Record<Precision, number> = { year: 4, month: 7, day: 10, time: 10 };

/**
 * Compares two values: -1 (a before b), 1 (a after b), 0 (same, or not decidable at the common
 * precision). Instants when both have a time, else calendar dates at the coarser precision.
 */
export function compareDates(a: FhirDate, b: FhirDate): -1 | 0 | 1 {
  if (a.instant !== undefined && b.instant !== undefined) return Math.sign(a.instant - b.instant) as -1 | 0 | 1;
  const len = Math.min(LENGTH[a.precision], LENGTH[b.precision]);
  const x = a.date.slice(0, len);
  const y = b.date.slice(0, len);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** The calendar date (YYYY-MM-DD) at `now` in a zone offsetMinutes from UTC. */
export function dateAt(now: Date, offsetMinutes: number): string {
  // Every write's rules ask for today in UTC+14 (isInFuture) and UTC-12 (yearsBeforeToday), each
  // request with its own `now`: the date is kept per UTC day number, which is all it depends on
  // (one date a day per offset instead of a Date formatted per call; dates.test.ts compares).
  // The day of the time value `new Date(at)` holds (it truncates a fractional `at`); outside the
  // Date range nothing is looked up, so toISOString throws its RangeError as before.
  const at = now.getTime() + offsetMinutes * 60_000;
  const time = Math.trunc(at);
  const day = Math.floor(time / 86_400_000);
  if (time >= -MAX_TIME && time <= MAX_TIME) {
    const known = datesByDay.get(day);
    if (known !== undefined) return known;
  }
  const date = new Date(at).toISOString().slice(0, 10);
  if (datesByDay.size >= 16) datesByDay.clear();
  datesByDay.set(day, date);
  return date;
}

/** The largest time value a Date holds (ECMAScript: ±8.64e15 ms). */
const MAX_TIME = 8.64e15;
const datesByDay = new Map<number, string>();

/** Is the value certainly later than now? (date: after today in UTC+14; instant: after now + skew) */
export function isInFuture(value: FhirDate, now: Date, skewMs = CLOCK_SKEW_MS): boolean {
  if (value.instant !== undefined) return value.instant > now.getTime() + skewMs;
  return compareDates(value, { date: dateAt(now, MAX_OFFSET_AHEAD_MIN), precision: 'day' }) > 0;
}

/** The date `years` before today (taking today where it is earliest, UTC-12: the lenient side). */
export function yearsBeforeToday(now: Date, years: number): string {
  const today = dateAt(now, MAX_OFFSET_BEHIND_MIN);
  // The same answer all day: the last one is kept (every Patient write asks, with MAX_AGE_YEARS).
  if (today === lastCutoff.today && years === lastCutoff.years) return lastCutoff.date;
  const date = yearsBefore(today, years);
  lastCutoff = { today, years, date };
  return date;
}

let lastCutoff = { today: '', years: NaN, date: '' };

/** The date `years` before the date `today` (YYYY-MM-DD), the 29th of February kept in the month. */
export function yearsBefore(today: string, years: number): string {
  const [y, m, d] = today.split('-').map(Number) as [number, number, number];
  const day = Math.min(d, daysIn(y - years, m));
  return `${String(y - years).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}
