import { describe, expect, it } from 'vitest';
import { csvCell } from './cell.js';

describe('csvCell', () => {
  it('quotes commas, quotes and line breaks (RFC 4180)', () => {
    expect(csvCell('Smith, Ann')).toBe('"Smith, Ann"');
    expect(csvCell('Ann "Annie" Smith')).toBe('"Ann ""Annie"" Smith"');
    expect(csvCell('1 Elm St\nApt 2')).toBe('"1 Elm St\nApt 2"');
    expect(csvCell(undefined)).toBe('');
    expect(csvCell(3)).toBe('3');
    expect(csvCell(-3)).toBe('-3');
  });

  it('keeps a spreadsheet from running a submitted value as a formula', () => {
    expect(csvCell('=HYPERLINK("http://x","y")')).toBe(`"'=HYPERLINK(""http://x"",""y"")"`);
    expect(csvCell('@SUM(A1)')).toBe("'@SUM(A1)");
    expect(csvCell('+cmd|/C calc!A0')).toBe("'+cmd|/C calc!A0");
    expect(csvCell("-2+3+cmd|' /C calc'!A0")).toBe("'-2+3+cmd|' /C calc'!A0");
    expect(csvCell('\t=1')).toBe("'\t=1");
  });

  it('leaves phone numbers and plain text alone', () => {
    for (const phone of ['+1 517 555 0101', '+1 (517) 555-0101', '-0101', '+44 20 7946 0958 x12']) expect(csvCell(phone)).toBe(phone);
    expect(csvCell("O'Brien")).toBe("O'Brien");
    expect(csvCell('Ann Smith')).toBe('Ann Smith');
  });
});
