// The layering rules, enforced by `npm test`: dependency-cruiser's rules (.dependency-cruiser.cjs:
// no module cycles, only entry points use src/app/, no test code in production modules), and no
// two top-level folders of src/ that import each other, directly or through other folders.
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import { beforeAll, describe, expect, it } from 'vitest';

import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);

/** Every production TypeScript module under src/ (tests are excluded by the configuration too). */
function sourceFiles(): string[] {
  return (readdirSync('src', { recursive: true }) as string[])
    .map((f) => `src/${f.split('\\').join('/')}`)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'));
}

let result: ICruiseResult;

beforeAll(async () => {
  const config = require('../.dependency-cruiser.cjs');
  const { output } = await cruise(sourceFiles(), { ...config.options, validate: true, ruleSet: { forbidden: config.forbidden } });
  result = output as ICruiseResult;
}, 120_000);

/**
 * Entry points of command-line tools: like src/server.ts they sit on top and may use the
 * composition (src/app/) or an operation's code; they are left out of the folder graph.
 */
const ENTRY_POINTS = [/\/cli\.ts$/, /^src\/forecast\/cdc-test-cases\.ts$/];

/** `src/<folder>/…` → folder; files directly in src/ (server.ts, config.ts, logger.ts) → undefined. */
function folderOf(path: string): string | undefined {
  const match = /^src\/([^/]+)\//.exec(path);
  return match?.[1];
}

/** Folder → folders it imports (production modules only). */
function folderGraph(cruised: ICruiseResult): Map<string, Set<string>> {
  const graph = new Map<string, Set<string>>();
  for (const module of cruised.modules) {
    const from = folderOf(module.source);
    if (!from || ENTRY_POINTS.some((e) => e.test(module.source))) continue;
    for (const dep of module.dependencies) {
      const to = folderOf(dep.resolved);
      if (!to || to === from || !dep.resolved.startsWith('src/')) continue;
      if (!graph.has(from)) graph.set(from, new Set());
      graph.get(from)?.add(to);
    }
  }
  return graph;
}

/** Pairs of folders that reach each other (a folder-level cycle), with one path each way. */
function mutualFolders(graph: Map<string, Set<string>>): string[] {
  const reach = (start: string, goal: string): string[] | undefined => {
    const queue: string[][] = [[start]];
    const seen = new Set([start]);
    while (queue.length > 0) {
      const path = queue.shift() as string[];
      for (const next of graph.get(path[path.length - 1]) ?? []) {
        if (next === goal) return [...path, next];
        if (!seen.has(next)) {
          seen.add(next);
          queue.push([...path, next]);
        }
      }
    }
    return undefined;
  };
  const problems: string[] = [];
  const folders = [...graph.keys()].sort();
  for (const a of folders) {
    for (const b of folders) {
      if (a >= b) continue;
      const there = reach(a, b);
      const back = there && reach(b, a);
      if (there && back) problems.push(`${there.join(' → ')} and ${back.join(' → ')}`);
    }
  }
  return problems;
}

describe('architecture', () => {
  it('dependency-cruiser finds no violation of .dependency-cruiser.cjs', () => {
    const violations = result.summary.violations.map((v) => `${v.rule.name}: ${v.from} → ${v.to}${v.cycle ? ` (${v.cycle.map((c) => c.name).join(' → ')})` : ''}`);
    expect(violations).toEqual([]);
    expect(result.modules.length).toBeGreaterThan(100);
  });

  it('no two top-level folders of src/ import each other, directly or through others', () => {
    expect(mutualFolders(folderGraph(result))).toEqual([]);
  });

  it('the check itself sees a folder cycle when there is one', () => {
    const graph = new Map([
      ['a', new Set(['b'])],
      ['b', new Set(['c'])],
      ['c', new Set(['a'])],
    ]);
    expect(mutualFolders(graph)).toHaveLength(3);
  });
});
