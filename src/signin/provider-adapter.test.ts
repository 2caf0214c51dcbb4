// oidc-provider's adapter contract on the store's short-lived records: TTLs, findByUid,
// findByUserCode, consume, destroy, revokeByGrantId, the sweep, and what is kept at rest.
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Store } from '../store/store.js';
import { ARTIFACTS_NAMESPACE, artifactHash, StoredArtifacts } from './provider-adapter.js';
import { tempStore } from './test-helpers.js';

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const now = () => Math.floor(Date.now() / 1000);

let store: Store;
let dispose: () => Promise<void>;
let artifacts: StoredArtifacts;
beforeEach(async () => {
  ({ store, dispose } = await tempStore());
  artifacts = new StoredArtifacts(store);
});
afterEach(async () => {
  artifacts.close();
  await dispose();
});

describe('the sign-in artifacts adapter', () => {
  it('find gives back the payload with its id; an expired artifact is never returned and is swept', async () => {
    const codes = artifacts.adapter('AuthorizationCode');
    await codes.upsert('code-long', { jti: 'code-long', iat: now(), exp: now() + 60, grantId: 'g1', kind: 'AuthorizationCode' }, 60);
    await codes.upsert('code-short', { jti: 'code-short', iat: now(), exp: now() + 1, grantId: 'g1', kind: 'AuthorizationCode' }, 1);
    expect(await codes.find('code-long')).toMatchObject({ jti: 'code-long', grantId: 'g1' });
    expect(await codes.find('code-short')).toMatchObject({ jti: 'code-short' });
    // Models are apart: the same id of another kind is another artifact.
    expect(await artifacts.adapter('RefreshToken').find('code-long')).toBeUndefined();
    await sleep(1100);
    expect(await codes.find('code-short')).toBeUndefined();
    expect(await artifacts.sweep()).toBe(1);
    expect(await artifacts.sweep()).toBe(0);
    expect(await codes.find('code-long')).toMatchObject({ jti: 'code-long' });
  });

  it('consume marks the artifact (a replayed code or rotated refresh token is seen as consumed); destroy removes it', async () => {
    const tokens = artifacts.adapter('RefreshToken');
    await tokens.upsert('rt-1', { jti: 'rt-1', iat: now(), exp: now() + 600, grantId: 'g', kind: 'RefreshToken' }, 600);
    expect((await tokens.find('rt-1'))?.consumed).toBeUndefined();
    await tokens.consume('rt-1');
    const consumed = (await tokens.find('rt-1'))?.consumed as number;
    expect(consumed).toBeGreaterThanOrEqual(now() - 1);
    // A fresh adapter over the same store (what a restarted server has) sees it consumed too.
    const restarted = new StoredArtifacts(store);
    expect((await restarted.adapter('RefreshToken').find('rt-1'))?.consumed).toBe(consumed);
    restarted.close();
    await tokens.destroy('rt-1');
    expect(await tokens.find('rt-1')).toBeUndefined();
  });

  it('findByUid finds a live session; findByUserCode a device code', async () => {
    const sessions = artifacts.adapter('Session');
    await sessions.upsert('session-id', { jti: 'session-id', uid: 'uid-1', accountId: 'user-1', iat: now(), exp: now() + 600, kind: 'Session' }, 600);
    expect(await sessions.findByUid('uid-1')).toMatchObject({ uid: 'uid-1', accountId: 'user-1' });
    expect(await sessions.findByUid('uid-2')).toBeUndefined();
    // A saved session under a new id (oidc-provider destroys the old one first) is found by uid.
    await sessions.destroy('session-id');
    expect(await sessions.findByUid('uid-1')).toBeUndefined();
    await sessions.upsert('session-id-2', { jti: 'session-id-2', uid: 'uid-1', accountId: 'user-1', iat: now(), exp: now() + 1, kind: 'Session' }, 1);
    expect(await sessions.findByUid('uid-1')).toMatchObject({ accountId: 'user-1' });
    await sleep(1100);
    expect(await sessions.findByUid('uid-1')).toBeUndefined();
    const devices = artifacts.adapter('DeviceCode');
    await devices.upsert('device-1', { jti: 'device-1', userCode: 'ABCD-EFGH', grantId: 'g', kind: 'DeviceCode' }, 600);
    expect(await devices.findByUserCode('ABCD-EFGH')).toMatchObject({ userCode: 'ABCD-EFGH' });
    expect(await devices.findByUserCode('ZZZZ-ZZZZ')).toBeUndefined();
  });

  it('revokeByGrantId removes every artifact the grant owns, and nothing of other grants', async () => {
    const codes = artifacts.adapter('AuthorizationCode');
    const refresh = artifacts.adapter('RefreshToken');
    const grants = artifacts.adapter('Grant');
    await grants.upsert('g1', { jti: 'g1', accountId: 'u', clientId: 'app', kind: 'Grant' }, 600);
    await codes.upsert('c1', { jti: 'c1', grantId: 'g1', kind: 'AuthorizationCode' }, 60);
    await refresh.upsert('r1', { jti: 'r1', grantId: 'g1', kind: 'RefreshToken' }, 600);
    await refresh.upsert('r2', { jti: 'r2', grantId: 'g1', kind: 'RefreshToken' }, 600);
    await refresh.upsert('r3', { jti: 'r3', grantId: 'g2', kind: 'RefreshToken' }, 600);
    await refresh.revokeByGrantId('g1');
    expect(await codes.find('c1')).toBeUndefined();
    expect(await refresh.find('r1')).toBeUndefined();
    expect(await refresh.find('r2')).toBeUndefined();
    expect(await refresh.find('r3')).toMatchObject({ grantId: 'g2' });
    // The grant itself is oidc-provider's to destroy (it does, next to revokeByGrantId).
    expect(await grants.find('g1')).toMatchObject({ clientId: 'app' });
  });

  it('keeps no id at rest: the key is a hash, the payload has no jti, an interaction no session cookie', async () => {
    await artifacts.adapter('RefreshToken').upsert('the-refresh-token', { jti: 'the-refresh-token', grantId: 'grant-7', kind: 'RefreshToken' }, 600);
    await artifacts.adapter('Interaction').upsert('interaction-uid', {
      jti: 'interaction-uid',
      kind: 'Interaction',
      session: { accountId: 'user-1', uid: 'session-uid', cookie: 'the-session-cookie' },
      params: { client_id: 'app' },
    }, 600);
    const records = store.expiringRecords(ARTIFACTS_NAMESPACE);
    const refresh = await records.get(artifactHash('RefreshToken', 'the-refresh-token'));
    const interaction = await records.get(artifactHash('Interaction', 'interaction-uid'));
    expect(refresh?.value).toEqual({ grantId: 'grant-7', kind: 'RefreshToken' });
    expect(refresh?.lookups).toEqual({ grant: artifactHash('grant', 'grant-7') });
    expect(JSON.stringify(interaction)).not.toMatch(/the-session-cookie|interaction-uid/);
    expect(await artifacts.adapter('Interaction').find('interaction-uid')).toEqual({
      jti: 'interaction-uid',
      kind: 'Interaction',
      session: { accountId: 'user-1', uid: 'session-uid' },
      params: { client_id: 'app' },
    });
  });
});
