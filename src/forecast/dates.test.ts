import { describe, expect, it } from 'vitest';
import { addDuration, formatDay, parseDuration, parseIsoDate, parseSupportingDate } from './dates.js';

const add = (date: string, duration: string) => formatDay(addDuration(parseIsoDate(date)!, parseDuration(duration)!));

describe('CDSi date arithmetic', () => {
  it('adds years, months, weeks and days term by term', () => {
    expect(add('2025-09-06', '10 weeks - 4 days')).toBe('2025-11-11');
    expect(add('2025-09-06', '5 months + 4 weeks')).toBe('2026-03-06');
    expect(add('2020-01-15', '4 years')).toBe('2024-01-15');
    expect(add('2020-01-15', '0 days')).toBe('2020-01-15');
  });
  it('rolls a day missing from the target month to the first of the next month', () => {
    expect(add('2025-01-31', '1 month')).toBe('2025-03-01');
    expect(add('2024-02-29', '1 year')).toBe('2025-03-01');
    expect(add('2025-03-31', '6 months - 4 days')).toBe('2025-09-27');
    expect(add('2025-08-31', '2 months')).toBe('2025-10-31');
  });
  it('reads supporting-data dates in both of CDC formats', () => {
    expect(formatDay(parseSupportingDate('20250701')!)).toBe('2025-07-01');
    expect(formatDay(parseSupportingDate('01/01/1957')!)).toBe('1957-01-01');
  });
  it('refuses impossible dates', () => {
    expect(parseIsoDate('2025-02-30')).toBeUndefined();
    expect(parseIsoDate('2025-02')).toBeUndefined();
    expect(parseDuration('')).toBeUndefined();
  });
});
