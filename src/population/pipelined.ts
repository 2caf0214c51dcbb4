// Keeps the store reads and the forecasts of a population run going at the same time: while the
// work of one batch runs (on a worker thread), the next batch is read. Results come out in the
// batches' order; at most `depth` batches are in flight, so memory stays bounded. The first result
// is passed on before the second batch is read, so a streamed answer starts as early as it can.
export async function* pipelined<A, B>(source: AsyncIterable<A>, work: (item: A) => Promise<B>, depth = 2): AsyncGenerator<B> {
  const inFlight: Array<Promise<B>> = [];
  let first = true;
  try {
    for await (const item of source) {
      const p = work(item);
      // Awaited below in order; a failure meanwhile must not count as unhandled.
      p.catch(() => undefined);
      inFlight.push(p);
      if (first || inFlight.length >= depth) yield await inFlight.shift()!;
      first = false;
    }
    while (inFlight.length > 0) yield await inFlight.shift()!;
  } finally {
    // A consumer that stops early (a page is full, the client went away) leaves nothing running unawaited.
    await Promise.allSettled(inFlight);
  }
}
