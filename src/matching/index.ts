// Patient matching engine (pure: no I/O). See README.md in this folder.
export { comparePatients, THRESHOLDS, CORROBORATION } from './compare.js';
export { rankCandidates, type RankOptions } from './rank.js';
export {
  blockingQueries,
  blockingStages,
  matchingIndex,
  BLOCK_LIMIT,
  MATCH_KEYS_PATH,
  MATCHING_INDEX_VERSION,
  type BlockingOptions,
  type MatchingIndex,
} from './blocking.js';
export { MOTHERS_MAIDEN_NAME_URL, SSN_SYSTEM } from './features.js';
export { placeholderInfo, type PlaceholderInfo } from './newborn.js';
export type { FieldOutcome, MatchDecision, MatchGrade, MatchReason, RankedCandidate } from './types.js';
export { GRADE_ORDER } from './types.js';
