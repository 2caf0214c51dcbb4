// Builders of test messages in the shape of the CDC guide's examples (release 1.5, section 10 and
// the NIST immunization test messages): MSH with MSH-21 Z22, PID, PD1, NK1, ORC/RXA/RXR/OBX.
// Dates are relative to today so the data-quality rules see plausible data whenever tests run.

export function hl7Date(daysAgo: number): string {
  const d = new Date(Date.now() - daysAgo * 86_400_000);
  return d.toISOString().slice(0, 10).replace(/-/g, '');
}

export function yearsAgo(years: number, extraDays = 0): string {
  const d = new Date();
  d.setUTCFullYear(d.getUTCFullYear() - years);
  d.setUTCDate(d.getUTCDate() - extraDays);
  return d.toISOString().slice(0, 10).replace(/-/g, '');
}

let counter = 0;
export function controlId(prefix = 'TEST'): string {
  counter += 1;
  return `${prefix}-${Date.now()}-${counter}`;
}

export interface VxuParts {
  facility?: string;
  controlId?: string;
  version?: string;
  profile?: string;
  pid: string;
  pd1?: string;
  nk1?: string[];
  orders: string[][];
}

export function msh(parts: { facility?: string; controlId?: string; version?: string; profile?: string; type?: string }): string {
  return [
    'MSH',
    '^~\\&',
    'Test EHR Application',
    parts.facility ?? 'X68',
    'IIS',
    'IIS Facility',
    `${hl7Date(0)}0822-0500`,
    '',
    parts.type ?? 'VXU^V04^VXU_V04',
    parts.controlId ?? controlId(),
    'P',
    parts.version ?? '2.5.1',
    '',
    '',
    'ER',
    'AL',
    '',
    '',
    '',
    '',
    parts.profile ?? 'Z22^CDCPHINVS',
  ].join('|');
}

export function vxu(parts: VxuParts): string {
  return [msh(parts), parts.pid, ...(parts.pd1 ? [parts.pd1] : []), ...(parts.nk1 ?? []), ...parts.orders.flat()].join('\r');
}

/** PID of a child: identifiers, name, mother's maiden name, birth date, sex, race, address, phone, ethnicity. */
export function pid(p: { mrn: string; authority?: string; family: string; given: string; middle?: string; birth: string; sex?: string; multiple?: string; order?: string }): string {
  return [
    'PID',
    '1',
    '',
    `${p.mrn}^^^${p.authority ?? 'MYEHR'}^MR`,
    '',
    `${p.family}^${p.given}^${p.middle ?? ''}^^^^L`,
    'Lam^Morgan^^^^^M',
    p.birth,
    p.sex ?? 'M',
    '',
    '2106-3^White^CDCREC',
    '32 Prescott Street Ave^^Warwick^MA^02452^USA^L',
    '',
    '^PRN^PH^^^657^5558563',
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    '2186-5^non Hispanic^CDCREC',
    '',
    p.multiple ?? '',
    p.order ?? '',
  ].join('|');
}

export function order(o: {
  filler?: string;
  cvx?: string;
  ndc?: string;
  date: string;
  lot?: string;
  expiration?: string;
  mvx?: string;
  source?: '00' | '01';
  completion?: string;
  action?: string;
  refusal?: string;
  amount?: string;
  obx?: string[];
}): string[] {
  const code = o.ndc ? `${o.ndc}^Vaccine by NDC^NDC${o.cvx ? `^${o.cvx}^Vaccine^CVX` : ''}` : `${o.cvx ?? '08'}^Hep B, adolescent or pediatric^CVX`;
  const historical = o.source === '01';
  const rxa = [
    'RXA',
    '0',
    '1',
    o.date,
    '',
    code,
    historical ? '999' : (o.amount ?? '0.5'),
    historical ? '' : 'mL^mL^UCUM',
    '',
    historical ? '01^Historical information - source unspecified^NIP001' : '00^New immunization record^NIP001',
    historical ? '' : '7832-1^Lemon^Mike^A^^^^^NIST-AA-1^^^^PRN',
    historical ? '' : '^^^X68',
    '',
    '',
    '',
    historical ? '' : (o.lot ?? 'Z0860BB'),
    historical ? '' : (o.expiration ?? hl7Date(-365)),
    historical ? '' : `${o.mvx ?? 'SKB'}^GlaxoSmithKline^MVX`,
    o.refusal ?? '',
    '',
    o.completion ?? 'CP',
    o.action ?? 'A',
  ].join('|');
  const segments = [`ORC|RE||${o.filler ?? ''}^NDA^2.16.840.1.113883.3.72.5.9.1^ISO|||||||7824^Jackson^Lily^Suzanne^^^^^NIST-PI-1^L^^^PRN||654^Thomas^Wilma^Elizabeth^^^^^NIST-PI-1^L^^^MD`, rxa];
  if (!historical && o.completion !== 'RE') segments.push('RXR|C28161^Intramuscular^NCIT|RT^Right Thigh^HL70163');
  if (o.obx) segments.push(...o.obx);
  return segments;
}

export const VIS_OBX = (date: string): string[] => [
  `OBX|1|CE|64994-7^Vaccine funding program eligibility category^LN|1|V02^VFC eligible - Medicaid/Medicaid Managed Care^HL70064||||||F|||${date}|||VXC40^Eligibility captured at the immunization level^CDCPHINVS`,
  `OBX|2|CE|30963-3^Vaccine funding source^LN|2|VXC50^Public^CDCPHINVS||||||F|||${date}`,
  `OBX|3|CE|69764-9^Document type^LN|3|253088698300012711120420^Hepatitis B VIS^cdcgs1vis||||||F|||${date}`,
  `OBX|4|DT|29769-7^Date Vis Presented^LN|3|${date}||||||F|||${date}`,
];
