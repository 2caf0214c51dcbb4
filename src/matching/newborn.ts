// Newborn placeholder names seen by the matcher. Detection is the data-quality module's
// (src/quality/names.ts: isPlaceholderName / isTestName); this thin adapter adds what matching
// needs on top: the real surname inside a placeholder (BabyGirlJones → jones, Baby Girl Boyle → boyle), the sex the
// placeholder states (Baby Boy → male) and its birth order as a number (Baby Girl B → 2).
import type { HumanName } from '@medplum/fhirtypes';
import { isPlaceholderName, isTestName, nameTokens, placeholderTokens } from '../quality/names.js';

export interface PlaceholderInfo {
  placeholder: boolean;
  /** Real surname left in the placeholder, as a name key ('' when none). */
  family: string;
  sexHint?: 'male' | 'female';
  /** Birth order the placeholder carries (A → 1, B → 2, Twin 2 → 2). */
  order?: number;
  /** The placeholder states a multiple birth (Twin, Triplet, a birth-order letter). */
  multiple: boolean;
  reason?: string;
}

const PLACEHOLDER_WORDS = new Set([
  'baby', 'bby', 'newborn', 'nb', 'infant', 'inf', 'neonate', 'unnamed', 'bebe', 'bb', 'bg', 'bboy', 'bgirl',
  'boy', 'girl', 'male', 'female', 'nino', 'nina', 'varon', 'hembra', 'twin', 'triplet', 'quad',
  'quadruplet', 'multiple', 'of', 'first', 'second', 'third', 'fourth',
]);
const MALE_WORDS = new Set(['boy', 'male', 'nino', 'varon', 'bboy']);
const FEMALE_WORDS = new Set(['girl', 'female', 'nina', 'hembra', 'bgirl']);
function orderNumber(order: string | undefined): number | undefined {
  if (!order) return undefined;
  const last = order.trim().split(/\s+/).pop() ?? '';
  if (/^[1-9]$/.test(last)) return Number(last);
  if (/^[A-Fa-f]$/.test(last)) return last.toUpperCase().charCodeAt(0) - 64;
  return undefined;
}

/** Cheap pre-check: a placeholder always contains one of these stems (most names do not). */
const MAYBE_PLACEHOLDER = /bab|bby|new|nb|inf|neo|unnamed|beb|bb|bg|boy|girl|male|nin|var|hem|twin|trip|quad|mult/i;
const NOT_PLACEHOLDER: PlaceholderInfo = Object.freeze({ placeholder: false, family: '', multiple: false });

/**
 * Given names that say the first name is not known (FNU: first name unknown; NFN: no first name).
 * A hospital writes them for a newborn not named yet, a clinic for a person whose first name it
 * did not get: they stand in for a first name, as a placeholder does, and are no first name to
 * compare (Unknown Walsh against Finn Walsh is not two children).
 */
const UNKNOWN_FIRST_NAME = /^[\s.]*(?:unknown|unk|f\.?n\.?u|n\.?f\.?n|no\s*name|none|null)[\s.]*$/i;

function unknownFirstName(name: HumanName): PlaceholderInfo | undefined {
  const given = name.given?.join(' ');
  if (!given || !UNKNOWN_FIRST_NAME.test(given)) return undefined;
  const family = nameTokens(name.family).filter((t) => t.length > 1 && !UNKNOWN_FIRST_NAME.test(t));
  // A family name that is no name either is junk, not a person waiting for a first name.
  if (family.length === 0) return undefined;
  return { placeholder: true, family: family.join(' '), multiple: false, reason: `"${given.trim()}" says the first name is not known` };
}

/** Placeholder analysis of one HumanName. */
export function placeholderInfo(name: HumanName): PlaceholderInfo {
  const unknown = unknownFirstName(name);
  if (unknown) return unknown;
  const joined = `${name.given?.join(' ') ?? ''} ${name.family ?? ''} ${name.text ?? ''}`;
  if (!MAYBE_PLACEHOLDER.test(joined)) return NOT_PLACEHOLDER;
  const result = isPlaceholderName({ family: name.family, given: name.given, text: name.text });
  if (!result.placeholder) return NOT_PLACEHOLDER;
  // Glued words are split as the placeholder check splits them, never by prefix alone: the
  // surname of "Baby Girl Boyle" is boyle, not "le" (a prefix cut made the legal "Emma Boyle"
  // conflict with her own placeholder, stored twice instead of merged, and read Boyle as a boy).
  const familyWords = new Set(nameTokens(name.family).filter((t) => t.length > 1));
  const tokens = [...placeholderTokens(name.given?.join(' '), familyWords), ...placeholderTokens(name.family)];
  let sexHint: 'male' | 'female' | undefined;
  for (const t of tokens) {
    if (MALE_WORDS.has(t)) sexHint ??= 'male';
    else if (FEMALE_WORDS.has(t)) sexHint ??= 'female';
  }
  // The surname is in `family`, or glued into the given name when there is none (BabyBoySmith).
  const source = name.family ? placeholderTokens(name.family) : placeholderTokens(name.given?.join(' ') ?? name.text);
  const familyTokens = source.filter((t) => t.length > 1 && !PLACEHOLDER_WORDS.has(t) && !/^\d+$/.test(t));
  const order = orderNumber(result.birthOrder);
  const info: PlaceholderInfo = {
    placeholder: true,
    family: familyTokens.join(' '),
    multiple: order !== undefined || tokens.some((t) => t === 'twin' || t === 'triplet' || t.startsWith('quad')),
  };
  if (sexHint) info.sexHint = sexHint;
  if (order !== undefined) info.order = order;
  if (result.reason) info.reason = result.reason;
  return info;
}

/** Does this name look like test or junk data? */
export function isTestHumanName(name: HumanName): boolean {
  return isTestName({ family: name.family, given: name.given, text: name.text }).test;
}
