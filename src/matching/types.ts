// Public types of the matching engine.
import type { Patient } from '@medplum/fhirtypes';

/**
 * How sure the engine is that two Patient records are the same person:
 *  - certain: the same person; safe to merge automatically (a create updates the existing record);
 *  - probable: likely the same; store separately and list for human review;
 *  - possible: some resemblance; returned by $match, not queued for review;
 *  - none: not the same person.
 */
export type MatchGrade = 'certain' | 'probable' | 'possible' | 'none';

export type FieldOutcome = 'agree' | 'partial' | 'conflict' | 'missing';

export interface MatchReason {
  /** What was compared: `name.given`, `birthDate`, `identifier.ssn`, `twins`, `decision` … */
  field: string;
  outcome: FieldOutcome;
  /** Human-readable explanation (values are shown, for reviewers). */
  detail: string;
  /** Log-likelihood weight this reason added to the total (0 for rule notes). */
  weight: number;
}

export interface MatchDecision {
  grade: MatchGrade;
  /**
   * 0..1, monotone in the evidence and banded by grade so that sorting by score sorts by grade:
   * none < 0.25 ≤ possible < 0.5 ≤ probable < 0.8 ≤ certain.
   */
  score: number;
  /** Sum of the field weights (log-likelihood style, before grade rules). */
  weight: number;
  reasons: MatchReason[];
}

export interface RankedCandidate {
  patient: Patient;
  decision: MatchDecision;
}

export const GRADE_ORDER: Record<MatchGrade, number> = { certain: 3, probable: 2, possible: 1, none: 0 };
