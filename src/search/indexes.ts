// Index definitions for the two stores, over the StoredDoc paths extract.ts writes (see its header
// for the layout). Chosen for the queries an IIS runs most: everything of a patient, identifier
// lookups (conditional create, $match), family + birth date, vaccine code + date, and _lastUpdated
// windows (exports, sync). The compiler emits equality / $in / $elemMatch on these paths so both
// stores can use them.

/**
 * Embedded store: hash (equality) indexes per resource type. They answer `{path: x}`,
 * `{path: {$in: […]}}`, `{'path.c': x}` and `{path: {$elemMatch: {…}}}` — reference and token
 * parameters; ranges and prefix regexes are evaluated over the candidates an index (or `_id`) gave.
 */
export const EMBEDDED_INDEXES: Record<string, string[]> = {
  Patient: ['s.identifier', 's.organization', 's.link', 's.general-practitioner'],
  Immunization: ['s.patient', 's.identifier', 's.vaccine-code', 's.performer'],
  Consent: ['s.patient', 's.identifier', 's.organization'],
  Organization: ['s.identifier', 's.partof'],
  Group: ['s.identifier', 's.member', 's.managing-entity'],
};

const common: Array<Record<string, 1 | -1>> = [
  { lastUpdated: 1 },
  { 's.identifier.c': 1, 's.identifier.s': 1 },
];

/**
 * MongoDB: compound B-tree indexes per resource type (created by the Mongo store at init).
 * Compound indexes pair at most one array-valued path with single-valued ones (date parameters
 * that do not repeat are stored as one `{lo, hi}` object), as MongoDB requires.
 */
export const MONGO_INDEXES: Record<string, Array<Record<string, 1 | -1>>> = {
  Patient: [
    ...common,
    { 's.family': 1, 's.birthdate.lo': 1 },
    { 's.birthdate.lo': 1 },
    { 's.given': 1 },
    { 's.organization': 1 },
    { 's.link': 1 },
    { 's._sort.family': 1, _id: 1 },
    { 's._sort.birthdate': 1, _id: 1 },
  ],
  Immunization: [
    ...common,
    { 's.patient': 1, 's.date.lo': 1 },
    { 's.vaccine-code.c': 1, 's.date.lo': 1 },
    { 's.date.lo': 1 },
    { 's.performer': 1 },
    { 's._sort.date': 1, _id: 1 },
  ],
  Consent: [...common, { 's.patient': 1, 's.date.lo': 1 }, { 's.organization': 1 }],
  Organization: [...common, { 's.name': 1 }, { 's.partof': 1 }],
  Group: [...common, { 's.member': 1 }, { 's.managing-entity': 1 }],
};
