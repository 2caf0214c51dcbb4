// Index definitions for the two stores, over the StoredDoc paths extract.ts writes (see its header
// for the layout). Chosen for the queries an IIS runs most: everything of a patient, identifier
// lookups (conditional create, $match), family + birth date, vaccine code + date, and _lastUpdated
// windows (exports, sync). The compiler emits equality / $in / $elemMatch / ranges / prefix regexes
// on these paths so both stores can use them.

/**
 * Embedded store: ordered indexes per resource type, each over the scalar values at one StoredDoc
 * path (arrays traversed): equality, `$in`, ranges, `^prefix` regexes and `$elemMatch` members on
 * these paths are index walks, and `s._sort.<code>` paths give `_sort` order (every type also has
 * `lastUpdated` and its primary key `_id`). Token parameters are indexed by code (`.c`), dates by
 * range start (`.lo`; conditions on `.hi` are turned into `.lo` ranges by the store's planner).
 * Compound indexes (`a+b`): vaccine code then date (a code within a date range is one short walk),
 * and family then birth date (`_sort=family,birthdate` streams in order).
 */
export const EMBEDDED_INDEXES: Record<string, string[]> = {
  Patient: [
    's.identifier.c',
    's.family',
    's.given',
    's.birthdate.lo',
    's.organization',
    's.link',
    's.general-practitioner',
    's._sort.family',
    's._sort.birthdate',
    's._sort.family+s._sort.birthdate',
  ],
  Immunization: ['s.patient', 's.identifier.c', 's.vaccine-code.c', 's.date.lo', 's.vaccine-code.c+s.date.lo', 's.performer', 's._sort.date'],
  Consent: ['s.patient', 's.identifier.c', 's.organization'],
  Condition: ['s.patient', 's.code.c'],
  Organization: ['s.identifier.c', 's.name', 's.partof'],
  Group: ['s.identifier.c', 's.member', 's.managing-entity'],
};

/**
 * Embedded store: the indexes whose values each hold a few entries (an instant, an identifier, a
 * patient's resources), whose per-value counters are not kept (EmbeddedStoreOptions.uncounted): a
 * counter cost every write a read and a put per value; counting a few entries where a count is
 * needed (estimates, "no entry: no walk") costs about what reading the counter did.
 */
export function embeddedUncounted(_resourceType: string, path: string): boolean {
  return path === 'lastUpdated' || path === 's.identifier.c' || path === 's.patient';
}

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
  Condition: [...common, { 's.patient': 1 }, { 's.code.c': 1 }],
  Organization: [...common, { 's.name': 1 }, { 's.partof': 1 }],
  Group: [...common, { 's.member': 1 }, { 's.managing-entity': 1 }],
};
