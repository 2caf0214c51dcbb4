// Vaccine suggestions from the server's own code sets: CVX concepts from CodeSystem/cvx (read once
// per session), NDCs through CodeSystem/$lookup (which knows every NDC form and its CVX).
import type { Api } from './fhir';
import type { CodeSystem, Parameters } from './fhir-types';

export const CVX_SYSTEM = 'http://hl7.org/fhir/sid/cvx';
export const NDC_SYSTEM = 'http://hl7.org/fhir/sid/ndc';

export interface Vaccine {
  cvx: string;
  name: string;
  active: boolean;
  ndc?: string;
}

let cvxCache: Promise<Vaccine[]> | undefined;

export function loadCvx(api: Api): Promise<Vaccine[]> {
  cvxCache ??= api.get<CodeSystem>('CodeSystem/cvx').then((cs) =>
    (cs.concept ?? []).map((c) => ({
      cvx: c.code ?? '',
      name: c.display ?? c.code ?? '',
      active: !(c.property ?? []).some((p) => p.code === 'inactive' && p.valueBoolean === true),
    }))
  );
  cvxCache.catch(() => (cvxCache = undefined));
  return cvxCache;
}

/**
 * The vaccine's name for a dose as stored: its text, a coding's display, or else the name the CVX
 * code set gives its code (`names`, from CodeSystem/cvx): doses sent with a bare CVX code (FHIR
 * clients, other systems) were listed as "Vaccine (CVX 08)", leaving staff to know the codes.
 */
export function doseVaccineName(vaccineCode: { text?: string; coding?: Array<{ system?: string; code?: string; display?: string }> } | undefined, names?: ReadonlyMap<string, string>): string | undefined {
  const cvx = vaccineCode?.coding?.find((c) => c.system === CVX_SYSTEM);
  return vaccineCode?.text ?? cvx?.display ?? vaccineCode?.coding?.find((c) => c.display)?.display ?? (cvx?.code ? names?.get(cvx.code) : undefined);
}

/** Digits of something that looks like an NDC (10 or 11 digits, hyphens allowed). */
export function ndcDigits(text: string): string | undefined {
  const trimmed = text.trim();
  if (!/^[\d-]+$/.test(trimmed)) return undefined;
  const digits = trimmed.replace(/-/g, '');
  return digits.length === 10 || digits.length === 11 ? trimmed : undefined;
}

export async function lookupNdc(api: Api, ndc: string): Promise<Vaccine[]> {
  const params = await api.get<Parameters>(`CodeSystem/$lookup?system=${encodeURIComponent(NDC_SYSTEM)}&code=${encodeURIComponent(ndc)}`);
  const props = (params.parameter ?? []).filter((p) => p.name === 'property');
  const value = (code: string) => props.filter((p) => p.part?.some((x) => x.name === 'code' && x.valueCode === code)).map((p) => p.part?.find((x) => x.name === 'value'));
  const ndc11 = value('ndc11')[0]?.valueCode ?? ndc;
  return value('cvx')
    .map((v) => v?.valueCoding)
    .filter((c): c is NonNullable<typeof c> => Boolean(c?.code))
    .map((c) => ({ cvx: c.code as string, name: c.display ?? `CVX ${c.code}`, active: true, ndc: ndc11 }));
}

/** Up to `limit` vaccines whose code or name contains every word typed; active ones first. */
export function suggest(all: Vaccine[], text: string, limit = 15): Vaccine[] {
  const words = text.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return [];
  const hits = all.filter((v) => {
    const hay = `${v.cvx} ${v.name}`.toLowerCase();
    return words.every((w) => hay.includes(w));
  });
  const exact = (v: Vaccine) => (v.cvx === text.trim() || v.cvx === text.trim().padStart(2, '0') ? 0 : 1);
  hits.sort((a, b) => exact(a) - exact(b) || Number(b.active) - Number(a.active) || a.name.localeCompare(b.name));
  return hits.slice(0, limit);
}

/** The label an option shows and the field holds once chosen. */
export function vaccineLabel(v: Vaccine): string {
  return v.ndc ? `NDC ${v.ndc} · CVX ${v.cvx} ${v.name}` : `CVX ${v.cvx} ${v.name}${v.active ? '' : ' (inactive)'}`;
}

/** What was typed or chosen, read back as a vaccine (a chosen label, a bare CVX code, or an exact name). */
export function resolveVaccine(all: Vaccine[], text: string, ndcHits: Vaccine[]): Vaccine | undefined {
  const value = text.trim();
  const ndcChoice = ndcHits.find((v) => vaccineLabel(v) === value || (v.ndc && ndcDigits(value) && v.ndc.replace(/-/g, '') === value.replace(/-/g, '')));
  if (ndcChoice) return ndcChoice;
  const labelled = /^CVX (\S+) /.exec(value);
  const code = labelled ? labelled[1] : value;
  return (
    all.find((v) => v.cvx === code || v.cvx === code.padStart(2, '0')) ??
    all.find((v) => v.name.toLowerCase() === value.toLowerCase())
  );
}
