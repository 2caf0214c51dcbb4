// The media types of an Accept header in the caller's order of preference (RFC 9110 12.5.1: the
// q weight first, then the order written; q=0 means "not acceptable"). The health-card operations
// answer one of several formats (Parameters, the card file, a QR image, the shc:/ text) and pick the
// first of these they offer.
export function preferredMediaTypes(accept: string | undefined): string[] {
  return (accept ?? '')
    .split(',')
    .map((range, order) => {
      const [type, ...params] = range.split(';').map((s) => s.trim().toLowerCase());
      const q = params.find((p) => /^q\s*=/.test(p));
      const weight = q === undefined ? 1 : Number(q.replace(/^q\s*=\s*/, ''));
      return { type, weight: Number.isFinite(weight) ? weight : 0, order };
    })
    .filter((t) => t.type !== '' && t.weight > 0)
    .sort((a, b) => b.weight - a.weight || a.order - b.order)
    .map((t) => t.type);
}
