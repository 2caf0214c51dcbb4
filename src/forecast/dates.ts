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

const MS_PER_DAY = 86_400_000;

export function dayFromYmd(year: number, month: number, day: number): Day {
  return Math.floor(Date.UTC(year, month - 1, day) / MS_PER_DAY);
}

export function ymdFromDay(d: Day): [number, number, number] {
  const date = new Date(d * MS_PER_DAY);
  return [date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate()];
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

function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month, 0)).getUTCDate();
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

export function addDuration(d: Day, duration: Duration): Day {
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

/** d + duration, or undefined when there is no duration. */
export function addOptional(d: Day | undefined, duration: Duration | undefined): Day | undefined {
  return d === undefined || duration === undefined ? undefined : addDuration(d, duration);
}

/** CDSi's open ends: an absent maximum is 12/31/2999, an absent minimum 01/01/1900. */
export const FAR_FUTURE: Day = dayFromYmd(2999, 12, 31);
export const FAR_PAST: Day = dayFromYmd(1900, 1, 1);
