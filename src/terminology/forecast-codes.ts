// What the CDSi forecast reads of a dose's vaccine is its CVX (src/forecast): a dose the server
// stored with an NDC only (as the contract's code rules allow) is given the CVX — and, when it names
// no manufacturer, the MVX — that the server's NDC code set maps it to, for the forecast's reading.
// Without it such a dose counted for nothing, and the dose it was was forecast as still due.
import type { Immunization } from '@medplum/fhirtypes';
import { CVX_SYSTEM, cvxOf, MVX_SYSTEM } from '../forecast/index.js';
import { systemKind, type CodeSets } from './code-sets.js';

/**
 * The dose with the CVX of its NDC added, when it carries an NDC but no CVX (an NDC the CDC files
 * list under several CVX takes the first); otherwise the dose itself. The stored record is not changed.
 */
export function withCvxFromNdc(imm: Immunization, codeSets: CodeSets | undefined): Immunization {
  if (!codeSets || cvxOf(imm) !== undefined) return imm;
  const codings = Array.isArray(imm.vaccineCode?.coding) ? imm.vaccineCode.coding : [];
  for (const coding of codings) {
    if (!coding || typeof coding !== 'object' || systemKind(coding.system) !== 'ndc' || typeof coding.code !== 'string') continue;
    const info = codeSets.ndc(coding.code);
    const cvx = info?.cvx[0];
    if (!info || !cvx) continue;
    const mvx = info.mvx.length === 1 && !imm.manufacturer ? { manufacturer: { identifier: { system: MVX_SYSTEM, value: info.mvx[0] } } } : {};
    return { ...imm, ...mvx, vaccineCode: { ...imm.vaccineCode, coding: [...codings, { system: CVX_SYSTEM, code: cvx }] } };
  }
  return imm;
}

/**
 * A patient's doses as the store's JSON array text, with withCvxFromNdc applied: the text itself
 * (not parsed) unless a dose names an NDC and no CVX system appears in it — population runs read
 * thousands of such texts, and NDC-only doses are rare.
 */
export function dosesTextWithCvxFromNdc(text: string, codeSets: CodeSets | undefined): string {
  if (!codeSets || !(text.includes('"http://hl7.org/fhir/sid/ndc"') || text.includes('"urn:oid:2.16.840.1.113883.6.69"'))) return text;
  const doses = JSON.parse(text) as Immunization[];
  if (!Array.isArray(doses)) return text;
  let changed = false;
  const read = doses.map((imm) => {
    const withCvx = imm && typeof imm === 'object' ? withCvxFromNdc(imm, codeSets) : imm;
    if (withCvx !== imm) changed = true;
    return withCvx;
  });
  return changed ? JSON.stringify(read) : text;
}
