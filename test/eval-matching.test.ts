// `npm run eval:matching -- --dir DIR --json`: one JSON line per labelled file, so any set in the
// AIRA format can be scored by a script (issue 12).
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

const run = promisify(execFile);

it('prints one JSON line of grade counts per label for each file', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'eval-matching-'));
  try {
    const same = 'nameFirst=Ann,nameLast=Lee,birthDate=20100101,gender=F,phone=(517)555-0101,';
    await writeFile(
      path.join(dir, 'tiny.txt'),
      [
        'TEST: S-1:X:IDEAL-IDEAL', 'EXPECT: Match', `PATIENT A: ${same}`, `PATIENT B: ${same}`,
        'TEST: D-1:X:IDEAL-IDEAL', 'EXPECT: Not a Match', `PATIENT A: ${same}`, 'PATIENT B: nameFirst=Bo,nameLast=Park,birthDate=19800505,gender=M,',
        'TEST: S-2:X:IDEAL-IDEAL', 'EXPECT: Possible Match', `PATIENT A: ${same}`, 'PATIENT B: nameFirst=Ann,nameLast=Lee,birthDate=20100101,gender=F,',
      ].join('\n')
    );
    const script = path.join(import.meta.dirname, '..', 'scripts', 'eval-matching.ts');
    const { stdout } = await run(process.execPath, ['--import', 'tsx', script, '--dir', dir, '--json']);
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0])).toEqual({
      file: 'tiny.txt',
      counts: {
        Match: { certain: 1, probable: 0, possible: 0, none: 0 },
        'Possible Match': { certain: 0, probable: 1, possible: 0, none: 0 },
        'Not a Match': { certain: 0, probable: 0, possible: 0, none: 1 },
      },
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
