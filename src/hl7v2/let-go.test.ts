// While a VXU's requests run, its parse tree must not be reachable: handleMessage hands on only the
// message's content and its ACK's header facts (prepareVxu). An async function holding the parsed
// message (or its text) across the store's work kept the tree alive — and copied by every
// young-generation GC — for as long as the message took. The tree is watched through a WeakRef
// taken when it is built; a full GC runs while the runner has the message's first request.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Bundle } from '@medplum/fhirtypes';
import { describe, expect, it, vi } from 'vitest';
import type { FhirRunner, MessageRunner } from './fhir-runner.js';

const trees: Array<WeakRef<object>> = [];
vi.mock('./er7.js', async (importOriginal) => {
  const er7 = await importOriginal<typeof import('./er7.js')>();
  return {
    ...er7,
    parseMessage: (...args: Parameters<typeof er7.parseMessage>) => {
      const parsed = er7.parseMessage(...args);
      trees.push(new WeakRef(parsed.message));
      return parsed;
    },
  };
});

const { handleMessage } = await import('./messages.js');
const { order, pid, vxu, yearsAgo, hl7Date } = await import('./test-messages.js');

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('a VXU being stored', () => {
  it('does not keep its parse tree reachable while its requests run', async () => {
    const text = vxu({
      pid: pid({ mrn: 'LG-1', family: 'Letgo', given: 'Ada', birth: yearsAgo(2) }),
      orders: [order({ filler: 'LG-1-A', cvx: '08', date: hl7Date(5) })],
    });
    const reachable: boolean[] = [];
    const run: FhirRunner = async (call) => {
      // A later job than the one that built the tree (a WeakRef keeps its target until its job ends).
      await new Promise((resolve) => setTimeout(resolve, 0));
      gc();
      reachable.push(trees.at(-1)?.deref() !== undefined);
      if (call.method === 'GET') return { status: 200, body: { resourceType: 'Bundle', type: 'searchset', entry: [] } };
      const bundle = call.body as Bundle;
      return { status: 200, body: { resourceType: 'Bundle', type: 'transaction-response', entry: (bundle.entry ?? []).map(() => ({ response: { status: '201 Created' } })) } };
    };
    const runMessage: MessageRunner = (answer) => answer(run);

    const result = await handleMessage(text, { run, runMessage, maxBytes: 200_000 });

    expect(result.code).toBe('AA');
    expect(trees).toHaveLength(1);
    expect(reachable).toEqual([false, false]); // the PID-3 look-up and the transaction
  });
});
