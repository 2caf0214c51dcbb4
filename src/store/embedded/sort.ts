// MongoDB-compatible sort values and comparison, so the embedded store orders results like MongoDB:
// missing and null sort first ascending (last descending); values of different types compare by
// BSON type order; an array field sorts by its smallest element ascending, its largest descending.

function rank(v: unknown): number {
  if (v === undefined || v === null) return 1;
  if (typeof v === 'number' || typeof v === 'bigint') return 2;
  if (typeof v === 'string' || typeof v === 'symbol') return 3;
  if (Array.isArray(v)) return 5;
  if (typeof v === 'boolean') return 8;
  if (v instanceof Date) return 9;
  if (v instanceof RegExp) return 11;
  return 4; // object
}

export function compareValues(a: unknown, b: unknown): number {
  const ra = rank(a);
  const rb = rank(b);
  if (ra !== rb) return ra - rb;
  switch (ra) {
    case 1:
      return 0;
    case 2:
      return (a as number) < (b as number) ? -1 : (a as number) > (b as number) ? 1 : 0;
    case 3:
    case 8:
      return (a as string) < (b as string) ? -1 : (a as string) > (b as string) ? 1 : 0;
    case 9:
      return (a as Date).getTime() - (b as Date).getTime();
    case 5: {
      const x = a as unknown[];
      const y = b as unknown[];
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const c = compareValues(x[i], y[i]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    case 4: {
      const x = Object.entries(a as object);
      const y = Object.entries(b as object);
      for (let i = 0; i < Math.min(x.length, y.length); i++) {
        const kc = compareValues(rank(x[i][1]), rank(y[i][1]));
        if (kc !== 0) return kc;
        if (x[i][0] !== y[i][0]) return x[i][0] < y[i][0] ? -1 : 1;
        const c = compareValues(x[i][1], y[i][1]);
        if (c !== 0) return c;
      }
      return x.length - y.length;
    }
    default:
      return String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
  }
}

function collect(value: unknown, segs: string[], i: number, out: unknown[]): void {
  if (value === undefined) return;
  if (i === segs.length) {
    if (Array.isArray(value)) {
      for (const el of value) out.push(el);
    } else out.push(value);
    return;
  }
  if (Array.isArray(value)) {
    const seg = segs[i];
    if (/^\d+$/.test(seg)) collect(value[Number(seg)], segs, i + 1, out);
    else for (const el of value) collect(el, segs, i, out);
    return;
  }
  if (value !== null && typeof value === 'object') collect((value as Record<string, unknown>)[segs[i]], segs, i + 1, out);
}

/** The value a document sorts by for one key (undefined when missing). */
export function sortValue(doc: unknown, path: string, direction: 1 | -1): unknown {
  const values: unknown[] = [];
  collect(doc, path.split('.'), 0, values);
  if (values.length === 0) return undefined;
  let best = values[0];
  for (let i = 1; i < values.length; i++) {
    const c = compareValues(values[i], best);
    if (direction === 1 ? c < 0 : c > 0) best = values[i];
  }
  return best;
}
