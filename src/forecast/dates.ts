// CDSi date arithmetic (logic specification, "Calculating dates"): durations such as
// "6 months + 4 weeks" or "10 weeks - 4 days" are applied term by term, left to right; adding
// years or months to a day that does not exist in the target month (Jan 31 + 1 month, Feb 29 +
// 1 year) gives the first day of the following month. Dates are whole days since 1970-01-01 (UTC)
// so that comparisons and day arithmetic are plain integer operations.

export type Day = number;

type Unit = 'year' | 'month' | 'week' | 'day';
export interface DurationTerm {
  amount: number;
  unit: Unit;
}
/** A parsed CDSi duration; empty terms means "0 days". */
export type Duration = readonly DurationTerm[];

// Civil-calendar conversions without Date objects (H. Hinnant's days_from_civil / civil_from_days):
// the engine does date arithmetic thousands of times per forecast.
export function dayFromYmd(year: number, month: number, day: number): Day {
  // Month 13 (from "first of the next month") rolls into the next year.
  const y0 = year + Math.floor((month - 1) / 12);
  const m0 = ((((month - 1) % 12) + 12) % 12) + 1;
  const y = m0 <= 2 ? y0 - 1 : y0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m0 + (m0 > 2 ? -3 : 9)) + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

export function ymdFromDay(d: Day): [number, number, number] {
  const z = d + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor((doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365);
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (month <= 2 ? 1 : 0), month, day];
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})/;

/** "YYYY-MM-DD" (or a dateTime: its date part) to a Day; undefined when it is not a full date. */
export function parseIsoDate(text: string | undefined): Day | undefined {
  const m = text ? ISO_DATE.exec(text) : null;
  if (!m) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  if (mo < 1 || mo > 12 || d < 1 || d > daysInMonth(y, mo)) return undefined;
  return dayFromYmd(y, mo, d);
}

export function formatDay(d: Day): string {
  const [y, m, day] = ymdFromDay(d);
  return `${String(y).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(day).padStart(2, '0')}`;
}

/** Supporting-data dates: "YYYYMMDD" (series data) or "MM/DD/YYYY" (immunity birth dates). */
export function parseSupportingDate(text: string | undefined): Day | undefined {
  if (!text) return undefined;
  const compact = /^(\d{4})(\d{2})(\d{2})$/.exec(text.trim());
  if (compact) return dayFromYmd(Number(compact[1]), Number(compact[2]), Number(compact[3]));
  const us = /^(\d{1,2})\/(\d{1,2})\/(\d{4})$/.exec(text.trim());
  if (us) return dayFromYmd(Number(us[3]), Number(us[1]), Number(us[2]));
  return parseIsoDate(text.trim());
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
function daysInMonth(year: number, month: number): number {
  if (month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) return 29;
  return DAYS_IN_MONTH[month - 1]!;
}

function addMonths(d: Day, months: number): Day {
  const [y, m, day] = ymdFromDay(d);
  const total = y * 12 + (m - 1) + months;
  const ty = Math.floor(total / 12);
  const tm = (total % 12) + 1;
  // A day missing from the target month rolls to the first of the next month (CDSi rule).
  if (day > daysInMonth(ty, tm)) return dayFromYmd(ty, tm + 1, 1);
  return dayFromYmd(ty, tm, day);
}

const TERM = /([+-])?\s*(\d+)\s*(year|month|week|day)s?/gi;
const durationCache = new Map<string, Duration | undefined>();

/** Parses "5 years", "6 months + 4 weeks", "10 weeks - 4 days"; undefined for empty/unparseable. */
export function parseDuration(text: string | undefined): Duration | undefined {
  if (text === undefined) return undefined;
  const key = text.trim();
  if (key === '' || key.toLowerCase() === 'n/a') return undefined;
  if (durationCache.has(key)) return durationCache.get(key);
  const terms: DurationTerm[] = [];
  for (const m of key.matchAll(TERM)) {
    const sign = m[1] === '-' ? -1 : 1;
    terms.push({ amount: sign * Number(m[2]), unit: m[3]!.toLowerCase() as Unit });
  }
  const result = terms.length > 0 ? terms : undefined;
  durationCache.set(key, result);
  return result;
}

/**
 * d + duration. Not memoised: a cache per (duration, start day) grew with every patient's birth
 * and dose dates (7 MB per 3,000 patients, bounded only at 50,000 entries per duration) and cost
 * more in lookups and GC than the few integer operations it saved.
 */
export function addDuration(d: Day, duration: Duration): Day {
  return computeDuration(d, duration);
}

function computeDuration(d: Day, duration: Duration): Day {
  let out = d;
  for (const term of duration) {
    switch (term.unit) {
      case 'year':
        out = addMonths(out, 12 * term.amount);
        break;
      case 'month':
        out = addMonths(out, term.amount);
        break;
      case 'week':
        out += 7 * term.amount;
        break;
      case 'day':
        out += term.amount;
        break;
    }
  }
  return out;
}

/**
 * The date a patient reaches an age (birth date + duration), or undefined when there is no age.
 * The engine asks for the same few ages (a series' minimum age, a vaccine's age range, …) for every
 * series, dose and target dose of a patient; `ageDates`, when the record has one (runCdsi gives it
 * one per forecast), remembers them by duration: a lookup costs a tenth of the calendar arithmetic.
 */
export function dateAtAge(patient: { birthDate: Day; ageDates?: Map<Duration, Day> }, age: Duration | undefined): Day | undefined {
  if (age === undefined) return undefined;
  const memo = patient.ageDates;
  if (memo === undefined) return addDuration(patient.birthDate, age);
  let day = memo.get(age);
  if (day === undefined) {
    day = addDuration(patient.birthDate, age);
    memo.set(age, day);
  }
  return day;
}

/** d + duration, or undefined when there is no duration. */
export function addOptional(d: Day | undefined, duration: Duration | undefined): Day | undefined {
  return d === undefined || duration === undefined ? undefined : addDuration(d, duration);
}

/** CDSi's open ends: an absent maximum is 12/31/2999, an absent minimum 01/01/1900. */
export const FAR_FUTURE: Day = dayFromYmd(2999, 12, 31);
export const FAR_PAST: Day = dayFromYmd(1900, 1, 1);
