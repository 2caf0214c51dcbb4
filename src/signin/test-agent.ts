// A minimal user agent for tests: follows redirects by hand, keeps cookies, reads and submits the
// sign-in pages' forms the way a browser would (fields by name, the submit button's value).
import * as oidc from 'openid-client';
export interface AgentResponse {
  status: number;
  url: string;
  location?: string;
  html: string;
  headers: Headers;
}

export class TestAgent {
  private readonly cookies = new Map<string, string>();

  async get(url: string): Promise<AgentResponse> {
    return this.request(url, { method: 'GET' });
  }

  async post(url: string, form: Record<string, string>, headers: Record<string, string> = {}): Promise<AgentResponse> {
    return this.request(url, { method: 'POST', body: new URLSearchParams(form).toString(), headers: { ...headers, 'content-type': 'application/x-www-form-urlencoded' } });
  }

  /** Follows redirects until a page is shown, or until `stopAt` (a redirect_uri prefix) is reached. */
  async follow(start: AgentResponse, stopAt: string): Promise<AgentResponse> {
    let res = start;
    for (let hops = 0; res.location && hops < 20; hops++) {
      const next = new URL(res.location, res.url).toString();
      if (next.startsWith(stopAt)) return { ...res, location: next };
      res = await this.get(next);
    }
    return res;
  }

  /** The action of the page's form that has a field or button named `name` (absolute URL). */
  formAction(page: AgentResponse, name?: string): string {
    const forms = [...page.html.matchAll(/<form[^>]*action="([^"]*)"[^>]*>([\s\S]*?)<\/form>/g)];
    const form = forms.find((f) => !name || f[2].includes(`name="${name}"`)) ?? forms[0];
    if (!form) throw new Error(`no form on the page:\n${page.html}`);
    return new URL(form[1].replace(/&amp;/g, '&'), page.url).toString();
  }

  private async request(url: string, init: RequestInit): Promise<AgentResponse> {
    const headers = new Headers(init.headers);
    if (this.cookies.size > 0) headers.set('cookie', [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; '));
    const res = await fetch(url, { ...init, headers, redirect: 'manual' });
    for (const cookie of res.headers.getSetCookie()) {
      const [pair, ...attrs] = cookie.split(';');
      const eq = pair.indexOf('=');
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*expires=/i.test(a) && Date.parse(a.split('=')[1]) < Date.now()) || value === '';
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return { status: res.status, url, location: res.headers.get('location') ?? undefined, html: await res.text(), headers: res.headers };
  }
}

/** Signs in on the server's form; then allows the app when a consent screen comes. Returns the redirect back to the app. */
export async function signInAndAllow(agent: TestAgent, authorizeUrl: string, redirect: string, username: string, password: string): Promise<AgentResponse> {
  const loginPage = await agent.follow(await agent.get(authorizeUrl), redirect);
  const afterLogin = await agent.follow(await agent.post(agent.formAction(loginPage), { username, password }), redirect);
  if (afterLogin.location?.startsWith(redirect) || !afterLogin.html.includes('name="decision"')) return afterLogin;
  return agent.follow(await agent.post(agent.formAction(afterLogin, 'decision'), { decision: 'allow' }), redirect);
}

/**
 * The PKCE sign-in most sign-in tests make: an authorization request (S256, a fresh verifier and
 * state), the sign-in form filled and the app allowed (signInAndAllow), the code exchanged by
 * openid-client. Throws, naming the page, when the browser does not come back to the app.
 */
export async function signInWithCode(
  config: oidc.Configuration,
  request: { redirectUri: string; scope: string; username: string; password: string; agent?: TestAgent; params?: Record<string, string> }
): Promise<Awaited<ReturnType<typeof oidc.authorizationCodeGrant>>> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(config, {
    redirect_uri: request.redirectUri,
    scope: request.scope,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...request.params,
  });
  const back = await signInAndAllow(request.agent ?? new TestAgent(), url.toString(), request.redirectUri, request.username, request.password);
  if (!back.location?.startsWith(request.redirectUri)) throw new Error(`the sign-in of ${request.username} did not come back to the app: ${back.status} ${back.html.slice(0, 400)}`);
  return oidc.authorizationCodeGrant(config, new URL(back.location), { pkceCodeVerifier: verifier, expectedState: state });
}
