import { describe, expect, it } from 'vitest';
import { calendarProblem, timeProblem } from './calendar.js';

describe('calendarProblem', () => {
  it('accepts real dates, dateTimes and instants at every precision', () => {
    for (const ok of ['2020', '2020-02', '2020-02-29', '2000-02-29', '2019-12-31T23:59:59Z', '2019-01-31T00:00:00.123+14:00', '2019-04-30T10:00:00-05:00', '2016-12-31T23:59:60Z']) {
      expect(calendarProblem(ok), ok).toBeUndefined();
    }
  });

  it('names what does not exist', () => {
    expect(calendarProblem('2020-02-30')).toBe('2020-02 has no day 30');
    expect(calendarProblem('2019-02-29')).toBe('2019-02 has no day 29');
    expect(calendarProblem('1900-02-29')).toBe('1900-02 has no day 29');
    expect(calendarProblem('2019-04-31T10:00:00Z')).toBe('2019-04 has no day 31');
  });

  it('leaves values that are not dates, or break the format, to the format check', () => {
    for (const format of ['2019-13-01', '2019-00-10', '2019-01-00', '2019-01-32']) expect(calendarProblem(format), format).toBeUndefined();
    expect(calendarProblem('yesterday')).toBeUndefined();
    expect(calendarProblem('2019-1-1')).toBeUndefined();
  });
});

describe('timeProblem', () => {
  it('accepts dates and complete times', () => {
    for (const ok of ['2020', '2020-02', '2020-02-29', '2019-12-31T23:59:59Z', '2019-01-31T00:00:00.123+14:00', '2019-04-30T10:00:00-05:00']) {
      expect(timeProblem(ok), ok).toBeUndefined();
    }
  });

  it('names a missing time zone or missing seconds (R4: a time SHALL have a zone; seconds are required)', () => {
    expect(timeProblem('2020-07-01T10:00:00')).toBe('a time needs a time zone (Z or +hh:mm / -hh:mm), e.g. 2020-07-01T10:00:00-05:00');
    expect(timeProblem('2020-07-01T10:00Z')).toBe('a time needs seconds, e.g. 2020-07-01T10:00:00-05:00');
    expect(timeProblem('2020-07-01T10:00')).toBe('a time needs seconds and a time zone (Z or +hh:mm / -hh:mm), e.g. 2020-07-01T10:00:00-05:00');
    expect(timeProblem('2020-07-01T10:00:00.5')).toMatch(/time zone/);
  });

  it('leaves malformed times to the format check', () => {
    for (const format of ['2020-07-01T', '2020-07-01T1000', 'yesterday', '2020-07-01 10:00:00']) expect(timeProblem(format), format).toBeUndefined();
  });
});
