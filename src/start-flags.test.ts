// The V8 flags the server runs with are the same wherever it is started: `npm start`, the Docker
// image and the benches (bench/server-entry.ts), so that what is measured is what runs.
// --initial-old-space-size=256 keeps V8 from a mark-compact every ~2.5 s at 300 VXU/s (each a 4–12 ms
// pause that the open loop's slowest 1 % all met): src/hl7v2/README.md "Session 11 (tail)".
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SERVER_NODE_FLAGS } from '../bench/server-entry.js';

const FLAGS = ['--no-allocation-site-pretenuring', '--initial-old-space-size=256'];

describe('the server start flags', () => {
  it('npm start passes them', () => {
    const start = (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: { start: string } }).scripts.start;
    for (const flag of FLAGS) expect(start.split(' ')).toContain(flag);
  });

  it('the Docker image passes them', () => {
    const cmd = readFileSync('Dockerfile', 'utf8').split('\n').find((l) => l.startsWith('CMD ')) ?? '';
    for (const flag of FLAGS) expect(cmd).toContain(`"${flag}"`);
  });

  it('the benches start the server with them', () => {
    expect(SERVER_NODE_FLAGS).toEqual(FLAGS);
  });
});
