// The rid construction against the spec's own published example, and the secret's life in DATA_DIR.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { rotateIssuerKey } from './issuer-keys.js';
import { RID_PATTERN, RID_SECRET_FILE, RidSecret, revocationId } from './rid.js';

// From the SMART Health Cards repository's example generator (smart-on-fhir/health-cards,
// generate-examples/src/config/issuer.hmac.private.json, the example issuer's first key, and
// issuer/.well-known/crl/3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s.json): the published CRL lists
// the rids of "userid-03" (example 03, whose payload carries vc.rid "vwAjHdarZuc") and three made-up
// users. A published example secret, not a credential.
const SPEC_SECRET = 'GWdbF5850vxNt3HhHFl0dRvvN--C6rD77obJgGjK_Zg';
const SPEC_KID = '3Kfdg-XwP-7gXyywtUfUADwBumDOPKMQx-iELL11W9s';
const SPEC_RIDS: Array<[string, string]> = [
  ['userid-03', 'vwAjHdarZuc'],
  ['fake-userid-1', 'FKDIxsTCGlU'],
  ['fake-userid-2', 'XkNHp2Iyk0Y'],
  ['fake-userid-3', 'TqB_qu_6OtM'],
];

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function dataDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'iis-rid-'));
  dirs.push(dir);
  return dir;
}

describe('revocationId', () => {
  it("reproduces the spec's published example CRL: base64url of the first 64 bits of HMAC-SHA-256(secret || kid, user id)", () => {
    for (const [user, rid] of SPEC_RIDS) expect(revocationId(SPEC_SECRET, SPEC_KID, user)).toBe(rid);
  });

  it('is 11 base64url characters (within the spec\'s 24) and differs per kid and per patient', () => {
    const rid = revocationId(SPEC_SECRET, SPEC_KID, 'p1');
    expect(rid).toMatch(/^[A-Za-z0-9_-]{11}$/);
    expect(rid).toMatch(RID_PATTERN);
    expect(revocationId(SPEC_SECRET, `${SPEC_KID.slice(0, -1)}x`, 'p1')).not.toBe(rid);
    expect(revocationId(SPEC_SECRET, SPEC_KID, 'p2')).not.toBe(rid);
    expect(revocationId(`${SPEC_SECRET.slice(0, -1)}A`, SPEC_KID, 'p1')).not.toBe(rid);
  });
});

describe('RidSecret', () => {
  it('creates 256 random bits once (0600), shared by every instance on the directory, untouched by key rotation', async () => {
    const dir = await dataDir();
    const first = new RidSecret(dir);
    const secret = first.value();
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect((await stat(join(dir, RID_SECRET_FILE))).mode & 0o777).toBe(0o600);
    expect(new RidSecret(dir).value()).toBe(secret);
    await rotateIssuerKey(dir);
    await rotateIssuerKey(dir);
    expect(new RidSecret(dir).value()).toBe(secret);
    expect(JSON.parse(readFileSync(join(dir, RID_SECRET_FILE), 'utf8')).secret).toBe(secret);
    expect(first.ridFor(SPEC_KID, 'p1')).toBe(revocationId(secret, SPEC_KID, 'p1'));
    // Another directory, another secret.
    expect(new RidSecret(await dataDir()).value()).not.toBe(secret);
  });

  it('processes creating it at once agree on one secret (exclusive creation)', async () => {
    const dir = await dataDir();
    // Each process loads the module, then spins until a common start time, so they race for real.
    const startAt = Date.now() + 2500;
    const script = `import { RidSecret } from './src/health-cards/rid.ts'; while (Date.now() < ${startAt}); process.stdout.write(new RidSecret(${JSON.stringify(dir)}).value());`;
    const run = () =>
      new Promise<string>((resolve, reject) => {
        execFile(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: process.cwd() }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
      });
    const values = await Promise.all(Array.from({ length: 4 }, run));
    expect(values[0]).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(new Set(values).size).toBe(1);
    expect(new RidSecret(dir).value()).toBe(values[0]);
  }, 60_000);

  it('refuses a file without a usable secret rather than making rids from it', async () => {
    const dir = await dataDir();
    const { writeFileSync } = await import('node:fs');
    writeFileSync(join(dir, RID_SECRET_FILE), JSON.stringify({ secret: 'short' }));
    expect(() => new RidSecret(dir).value()).toThrow(/256 bits/);
  });
});
