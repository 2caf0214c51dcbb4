// rankCandidates: decisions for one incoming Patient against the candidates blocking fetched,
// best first. Set-level rules on top of the pairwise decisions, reasoning about the family:
//  - more than one certain candidate: none of them is certain (the input could be either record —
//    twins, or duplicates already in the registry); all become probable for review;
//  - a certain match with a newborn placeholder that rests on household facts only (no shared
//    identifier, no birth order in common) is lowered to probable when a sibling of the input is
//    registered (same birth date, a different first name) that could itself be the child behind
//    the placeholder: the birth may have been multiple and the placeholder either child. A sibling
//    that certainly is not the placeholder's child — the other sex, a conflicting birth order,
//    another mother or household — leaves the match certain, so the second child's legal record
//    reaches its own placeholder once the first child's has merged into its own.
//
// Screen (the speed of $match and of a Patient create; the answers are the same): most candidates
// blocking fetches are other people (same birth date, another name; same name, another birth
// date). Before the full comparison, the core fields (names, birth date, sex, mother's maiden
// name, guardians, multiple birth) are compared from the candidate's core features, and the rest
// (identifiers, phone, address) is bounded by the most it could add given what the INPUT carries
// (no SSN on the input: the SSN adds nothing). When even that bound stays under the possible line,
// and the married-name floor cannot apply, the candidate is certainly graded none: it is never
// listed and is not certain, so it is left out without extracting its identifiers, phones and
// addresses or comparing them. One graded none can still matter: a registered sibling with the
// same birth date, which the twin rule above looks at; such candidates are kept aside and compared
// in full only when that rule runs. findMatches goes one step earlier with the birth date alone
// (certainlyNoneByBirthDate), read from the stored JSON before it is parsed.
import type { Patient } from '@medplum/fhirtypes';
import { compareBirthDate, WEIGHTS } from './comparators.js';
import { compareCoreFields, compareFeatures, comparePatients, THRESHOLDS, type CoreFieldSet } from './compare.js';
import { computeCoreFeatures, computeFeatures, features, parseBirthDate, type CoreFeatures, type Features } from './features.js';
import { GRADE_ORDER, type MatchDecision, type RankedCandidate } from './types.js';

export interface RankOptions {
  /** Keep candidates graded `none` (default false: only certain, probable and possible). */
  includeNone?: boolean;
}

/** A record merged into another (`link` replaced-by) is not a match target any more. */
function isReplaced(p: Patient): boolean {
  return (p.link ?? []).some((l) => l.type === 'replaced-by');
}

function toProbable(d: MatchDecision, why: string): MatchDecision {
  return {
    ...d,
    grade: 'probable',
    score: Math.min(d.score, 0.799),
    reasons: [...d.reasons, { field: 'decision', outcome: 'conflict', detail: why, weight: 0 }],
  };
}

const outcomeOf = (d: MatchDecision, field: string) => d.reasons.find((r) => r.field === field)?.outcome;

const HOUSEHOLD_FIELDS = ['address', 'telecom.phone', 'mothersMaidenName'];

/**
 * Is the sibling certainly not the child behind the placeholder record? The other sex, a
 * conflicting birth order, another mother (maiden name), or another household (no address, phone
 * or maiden name in common and at least one of them different).
 */
export function certainlyAnotherChild(placeholderRecord: Patient, sibling: Patient): boolean {
  const d = comparePatients(placeholderRecord, sibling);
  if (outcomeOf(d, 'gender') === 'conflict') return true;
  if (outcomeOf(d, 'multipleBirth') === 'conflict') return true;
  if (outcomeOf(d, 'mothersMaidenName') === 'conflict') return true;
  const household = HOUSEHOLD_FIELDS.map((f) => outcomeOf(d, f));
  return !household.includes('agree') && household.includes('conflict');
}

export function rankCandidates(input: Patient, candidates: Patient[], options: RankOptions = {}): RankedCandidate[] {
  return new CandidateRanker(input).rank(candidates, options);
}

/** A candidate in ranking; `decision` is left out while a screened-out sibling is kept aside. */
interface Ranking {
  patient: Patient;
  decision?: MatchDecision;
}

/** What the screen says of a candidate: its full decision, certainly none, or none but possibly a twin. */
type Screened = MatchDecision | 'none' | 'none-same-birth-date';

/** The most a field can add to the weight, whatever the other record holds. */
const most = (weights: Record<string, number>): number => Math.max(0, ...Object.values(weights));

/**
 * The most the fields the screen does not compare (identifiers, phone, address) can add for this
 * input, whatever the candidate: each comparator answers `missing` (weight 0) when the input has
 * nothing of its kind, and at most its best weight otherwise.
 */
export function uncomparedBound(fa: Features): number {
  const kinds = new Set(fa.ids.map((i) => i.kind));
  return (
    (kinds.has('ssn') ? most(WEIGHTS.ssn) : 0) +
    (kinds.has('medicaid') ? most(WEIGHTS.medicaid) : 0) +
    (kinds.has('mrn') ? most(WEIGHTS.mrn) : 0) +
    (kinds.has('other') ? most(WEIGHTS.other) : 0) +
    (fa.phones.length > 0 ? most(WEIGHTS.phone) : 0) +
    (fa.addresses.length > 0 ? most(WEIGHTS.address) : 0)
  );
}

/**
 * The most the core fields but the birth date can add for this input, whatever the candidate (as
 * uncomparedBound). A first name recorded as the input's middle name scores a partial, hence the
 * middles with the first name; a birth order agrees only when both records carry one.
 */
export function coreBoundWithoutBirthDate(fa: CoreFeatures): number {
  return (
    (fa.firsts.length > 0 || fa.middles.length > 0 ? most(WEIGHTS.first) : 0) +
    (fa.middles.length > 0 ? most(WEIGHTS.middle) : 0) +
    (fa.families.length > 0 ? most(WEIGHTS.family) : 0) +
    (fa.suffixes.length > 0 ? most(WEIGHTS.suffix) : 0) +
    (fa.sex !== undefined ? most(WEIGHTS.sex) : 0) +
    (fa.mothersMaidenName !== '' ? most(WEIGHTS.mothersMaidenName) : 0) +
    (fa.guardians.length > 0 ? most(WEIGHTS.guardian) : 0) +
    (fa.order !== undefined ? most(WEIGHTS.multipleBirth) : 0)
  );
}

/** The stored weight is rounded to hundredths: a bound must stay clear of the line by more than that. */
const UNDER_POSSIBLE = THRESHOLDS.possible - 0.01;

/**
 * Ranks candidates for one input. Keeps each candidate's decision (by object), so a record found
 * again in a later blocking stage (findMatches) is not compared again.
 */
export class CandidateRanker {
  private readonly fa: Features;
  /** uncomparedBound of the input. */
  private readonly uncompared: number;
  /** coreBoundWithoutBirthDate of the input. */
  private readonly coreWithoutBirth: number;
  // Per ranker (one findMatches call), in plain Maps that die with it: the candidates are fresh
  // records each call, and passing them through module-level WeakMaps costs the GC (features.ts).
  private readonly screened = new Map<Patient, Screened>();
  private readonly cores = new Map<Patient, CoreFeatures>();
  private readonly fulls = new Map<Patient, Features>();
  /** Core comparisons screenCore made before the record was parsed (adopt). */
  private readonly comparedCores = new Map<Patient, CoreFieldSet>();

  constructor(readonly input: Patient) {
    const fa = features(input);
    this.fa = fa;
    this.uncompared = uncomparedBound(fa);
    this.coreWithoutBirth = coreBoundWithoutBirthDate(fa);
  }

  /**
   * Can certainlyNoneByBirthDate say yes for any candidate? Not when the input carries so much that
   * even a conflicting birth date leaves the bound above the line (a full registration record):
   * then findMatches need not look for the birth date in the stored text.
   */
  get screensByBirthDate(): boolean {
    const lowest = this.fa.birth ? Math.min(0, ...Object.values(WEIGHTS.birthDate)) : 0;
    return lowest + this.coreWithoutBirth + this.uncompared < UNDER_POSSIBLE;
  }

  /**
   * Is a candidate with this `birthDate` (the element's text as stored; undefined: none) certainly
   * graded none and not born on the input's birth date, whatever else it holds? Then it need not
   * even be parsed (findMatches looks at the stored JSON first): the screen below would say 'none'.
   */
  certainlyNoneByBirthDate(birthDate: string | undefined): boolean {
    const birth = compareBirthDate(this.fa, { birth: parseBirthDate(birthDate) });
    return birth.outcome !== 'agree' && birth.weight + this.coreWithoutBirth + this.uncompared < UNDER_POSSIBLE;
  }

  private coreOf(patient: Patient): CoreFeatures {
    let f = this.cores.get(patient);
    if (!f) {
      f = computeCoreFeatures(patient);
      this.cores.set(patient, f);
    }
    return f;
  }

  private featuresOf(patient: Patient): Features {
    let f = this.fulls.get(patient);
    if (!f) {
      f = computeFeatures(patient, this.coreOf(patient));
      this.fulls.set(patient, f);
    }
    return f;
  }

  /** The full decision for a candidate (`core`: its core fields, when already compared). */
  decide(patient: Patient, core?: CoreFieldSet): MatchDecision {
    const known = this.screened.get(patient);
    if (known !== undefined && typeof known !== 'string') return known;
    const decision = compareFeatures(this.fa, this.featuresOf(patient), core);
    this.screened.set(patient, decision);
    return decision;
  }

  /**
   * The full decision, or 'none' when the candidate is certainly graded none (weight under the
   * possible line whatever the fields not compared hold, and no married-name floor), or
   * 'none-same-birth-date' for such a candidate that shares the input's birth date (a twin the set
   * rules may need to look at).
   */
  screen(patient: Patient): Screened {
    const known = this.screened.get(patient);
    if (known !== undefined) return known;
    const core = this.comparedCores.get(patient) ?? compareCoreFields(this.fa, this.coreOf(patient));
    const verdict = this.screenVerdict(core);
    if (verdict === undefined) return this.decide(patient, core);
    this.screened.set(patient, verdict);
    return verdict;
  }

  /** What screen() says from the core comparisons: undefined when the full decision is needed. */
  private screenVerdict(core: CoreFieldSet): 'none' | 'none-same-birth-date' | undefined {
    const { first, family, birth, sex } = core;
    let bound = this.uncompared;
    for (const field of Object.values(core)) bound += field.weight;
    // The married-name floor (compare.ts) makes a pair probable whatever its weight. (It needs the
    // same phone, so the input has one and the bound is above the line anyway: kept in case the
    // weights change.)
    const floorPossible =
      (family.outcome === 'conflict' && first.outcome === 'agree' && birth.outcome === 'agree' && sex.outcome !== 'conflict') ||
      // The floor of a newborn placeholder of the other sex (compare.ts). It needs an identifier or
      // two household facts, so today's bound is above the line anyway: kept in case the weights change.
      (sex.outcome === 'conflict' && first.outcome === 'missing' && family.outcome === 'agree' && birth.outcome === 'agree');
    if (floorPossible || bound >= UNDER_POSSIBLE) return undefined;
    return birth.outcome === 'agree' ? 'none-same-birth-date' : 'none';
  }

  /**
   * screen() of a record not parsed yet, from its core features (findMatches keeps those of the
   * records it met before): 'none' when screen() would say 'none' (rank() leaves it out: it need
   * not be parsed); otherwise the core comparisons, for adopt() once it is parsed.
   */
  screenCore(core: CoreFeatures): 'none' | CoreFieldSet {
    const compared = compareCoreFields(this.fa, core);
    return this.screenVerdict(compared) === 'none' ? 'none' : compared;
  }

  /**
   * A parsed candidate whose features are known already (computed from the same stored text):
   * they, and its core comparisons when screenCore gave them, are used instead of computing them.
   */
  adopt(patient: Patient, core: CoreFeatures, full: Features | undefined, compared: CoreFieldSet | undefined): void {
    this.cores.set(patient, core);
    if (full) this.fulls.set(patient, full);
    if (compared) this.comparedCores.set(patient, compared);
  }

  /** The features computed for a candidate during this ranking (core always once screened; full when it was compared in full). */
  featuresKnown(patient: Patient): { core: CoreFeatures | undefined; full: Features | undefined } {
    return { core: this.cores.get(patient), full: this.fulls.get(patient) };
  }

  rank(candidates: Patient[], options: RankOptions = {}): RankedCandidate[] {
    const input = this.input;
    const seen = new Set<string>();
    const all: Ranking[] = [];
    for (const patient of candidates) {
      if (patient.id !== undefined) {
        if (patient.id === input.id || seen.has(patient.id)) continue;
        seen.add(patient.id);
      }
      if (isReplaced(patient)) continue;
      if (options.includeNone) {
        all.push({ patient, decision: this.decide(patient) });
        continue;
      }
      const screened = this.screen(patient);
      if (screened === 'none') continue;
      all.push({ patient, decision: screened === 'none-same-birth-date' ? undefined : screened });
    }

    const certain = all.filter((r) => r.decision?.grade === 'certain') as RankedCandidate[];
    if (certain.length > 1) {
      for (const r of certain) {
        r.decision = toProbable(r.decision, `${certain.length} records match certainly: ambiguous (twins or existing duplicates), review instead of merging`);
      }
    } else if (certain.length === 1) {
      const r = certain[0];
      const placeholder = this.fa.placeholder || this.featuresOf(r.patient).placeholder;
      // An identifier or the same birth order tells the children apart; household facts do not.
      const idAgree = r.decision.reasons.some((x) => (x.field.startsWith('identifier.') || x.field === 'multipleBirth') && x.outcome === 'agree');
      const placeholderRecord = this.featuresOf(r.patient).placeholder ? r.patient : input;
      let twin: RankedCandidate | undefined;
      if (placeholder && !idAgree) {
        // The siblings kept aside by the screen are compared now, in their places.
        for (const o of all) o.decision ??= this.decide(o.patient);
        twin = (all as RankedCandidate[]).find(
          (o) =>
            o !== r &&
            outcomeOf(o.decision, 'birthDate') === 'agree' &&
            o.decision.reasons.some((x) => x.field === 'twins') &&
            !certainlyAnotherChild(placeholderRecord, o.patient)
        );
      }
      if (twin) {
        r.decision = toProbable(r.decision, `a twin with the same birth date is registered (${twin.patient.id ?? 'unsaved'}): the newborn placeholder may be either child`);
      }
    }

    const ranked = (options.includeNone ? all : all.filter((r) => r.decision !== undefined && r.decision.grade !== 'none')) as RankedCandidate[];
    ranked.sort(
      (x, y) =>
        GRADE_ORDER[y.decision.grade] - GRADE_ORDER[x.decision.grade] ||
        y.decision.score - x.decision.score ||
        (x.patient.id ?? '').localeCompare(y.patient.id ?? '')
    );
    return ranked;
  }
}
