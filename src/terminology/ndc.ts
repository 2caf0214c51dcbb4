// National Drug Code forms. The FDA writes 10-digit NDCs in three segment layouts (4-4-2, 5-3-2,
// 5-4-1); billing and the CDC files use the 11-digit 5-4-2 form, made by left-padding the short
// segment with a zero. A 10-digit NDC without hyphens is ambiguous (the short segment is
// unknown), so it yields the three candidate 11-digit forms and the code set decides.

/** The FHIR system for NDC, and the HL7 v2 OID form some senders still use. */
export const NDC_SYSTEMS = ['http://hl7.org/fhir/sid/ndc', 'urn:oid:2.16.840.1.113883.6.69'] as const;
export const NDC_SYSTEM = NDC_SYSTEMS[0];

/**
 * The 11-digit forms (digits only) an NDC as written may stand for: one for hyphenated or
 * 11-digit input, up to three for 10 digits without hyphens, none for what is not an NDC.
 */
export function ndcCandidates(input: string): string[] {
  const value = input.trim().replace(/\s+/g, '');
  if (value.includes('-')) {
    const parts = value.split('-');
    if (parts.length !== 3 || parts.some((p) => !/^\d+$/.test(p))) return [];
    const [l, p, k] = parts as [string, string, string];
    const shape = `${l.length}-${p.length}-${k.length}`;
    switch (shape) {
      case '5-4-2':
        return [l + p + k];
      case '4-4-2':
        return [`0${l}${p}${k}`];
      case '5-3-2':
        return [`${l}0${p}${k}`];
      case '5-4-1':
        return [`${l}${p}0${k}`];
      default:
        return [];
    }
  }
  if (/^\d{11}$/.test(value)) return [value];
  if (/^\d{10}$/.test(value)) {
    return [`0${value}`, `${value.slice(0, 5)}0${value.slice(5)}`, `${value.slice(0, 9)}0${value.slice(9)}`];
  }
  return [];
}

/** The 11-digit form when the input is unambiguous (hyphenated or 11 digits), else undefined. */
export function ndcDigits(input: string): string | undefined {
  const c = ndcCandidates(input);
  return c.length === 1 ? c[0] : undefined;
}

/** `LLLLL-PPPP-KK` from 11 digits. */
export function hyphenateNdc11(digits: string): string {
  return `${digits.slice(0, 5)}-${digits.slice(5, 9)}-${digits.slice(9)}`;
}
