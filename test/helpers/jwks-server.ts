// A JWKS endpoint on 127.0.0.1 for auth tests: serves mutable key sets by path and counts requests.
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

export interface TestKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeKey(alg: 'RS256' | 'RS384' | 'ES256' | 'ES384' | 'PS256', kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { kid, alg, privateKey, publicJwk };
}

/** Signs claims with a test key (kid and alg in the header unless overridden). */
export async function signWith(key: TestKey, claims: JWTPayload, header: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header }).sign(key.privateKey);
}

export interface JwksServer {
  url: string;
  /** Key sets served at each path (e.g. '/jwks.json'); change them to rotate keys. */
  sets: Map<string, { keys: JWK[] }>;
  /** Requests per path. */
  hits: Map<string, number>;
  /** HTTP status to answer instead of the set (e.g. 500), per path. */
  failing: Map<string, number>;
  close(): Promise<void>;
}

export async function startJwksServer(): Promise<JwksServer> {
  const sets = new Map<string, { keys: JWK[] }>();
  const hits = new Map<string, number>();
  const failing = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    hits.set(path, (hits.get(path) ?? 0) + 1);
    const failure = failing.get(path);
    if (failure) {
      res.writeHead(failure).end();
      return;
    }
    const set = sets.get(path);
    if (!set) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(set));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    sets,
    hits,
    failing,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
