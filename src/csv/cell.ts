// One CSV cell (RFC 4180) that a spreadsheet opens as text. The registry's CSV files (reminder/recall
// lists, the HL7 v2 submitter report) carry what submitters sent — names, addresses, phones,
// facility names — and a cell starting with = + - @ (or a tab / carriage return) is run as a
// formula by Excel, LibreOffice and Google Sheets (OWASP "CSV injection"). Such a cell gets a
// leading apostrophe, which spreadsheets show as nothing; a phone number ("+1 517 555 0101",
// "-0101") is left as it is, since only digits and phone punctuation follow its sign.
const FORMULA_START = /^[=@\t\r]/;
const SIGNED = /^[+-]/;
const PHONE_LIKE = /^[+-][\d\s().\-/+x#*]*$/i;

export function csvCell(value: string | number | undefined): string {
  const raw = value === undefined ? '' : String(value);
  const text = typeof value === 'string' && (FORMULA_START.test(raw) || (SIGNED.test(raw) && !PHONE_LIKE.test(raw))) ? `'${raw}` : raw;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
