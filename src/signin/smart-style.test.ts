// smart_style_url (SMART App Launch 2): the token response names it, the document is served to
// anyone (CORS), and its values are the clinic web app's theme (its sources and Mantine's defaults).
import { readFileSync } from 'node:fs';
import { DEFAULT_THEME } from '@mantine/core';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../../test/helpers/server.js';
import { SMART_STYLE } from './smart-style.js';
import { signinOf } from './test-helpers.js';
import { signInWithCode } from './test-agent.js';

describe('smart_style_url', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer('embedded');
    await signinOf(server).users.create({ username: 'nurse.style', password: 'styled like home 1', role: 'clinician', organization: 'Organization/clinic-a' });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('is in the token response of a code exchange and of a refresh, and serves the style document to any origin', async () => {
    const cfg = await oidc.discovery(new URL(`${server.url}/auth`), 'iis-web-app', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const callback = `${server.url}/app/callback`;
    const tokens = await signInWithCode(cfg, { redirectUri: callback, scope: 'openid offline_access user/Patient.rs', username: 'nurse.style', password: 'styled like home 1' });
    expect(tokens.smart_style_url).toBe(`${server.url}/auth/smart-style.json`);
    expect((await oidc.refreshTokenGrant(cfg, tokens.refresh_token as string)).smart_style_url).toBe(tokens.smart_style_url);
    const style = await fetch(String(tokens.smart_style_url), { headers: { origin: 'https://app.example' } });
    expect(style.status).toBe(200);
    expect(style.headers.get('content-type')).toMatch(/^application\/json/);
    expect(style.headers.get('access-control-allow-origin')).toBe('*');
    const doc = (await style.json()) as Record<string, string>;
    expect(doc).toEqual(SMART_STYLE);
    for (const [name, value] of Object.entries(doc)) expect(name.startsWith('color_') ? /^(#[0-9a-f]{6}|rgba\([\d., ]+\))$/.test(value) : value.length > 0).toBe(true);
  });

  it("its values are the clinic web app's theme", () => {
    const app = readFileSync(new URL('../../web/src/App.tsx', import.meta.url), 'utf8');
    const ui = readFileSync(new URL('../../web/src/ui.tsx', import.meta.url), 'utf8');
    const primary = /primaryColor: '(\w+)',\s*primaryShade: (\d)/.exec(app);
    expect(primary).toBeTruthy();
    const palette = DEFAULT_THEME.colors[(primary as RegExpExecArray)[1]];
    expect(SMART_STYLE.color_highlight).toBe(palette[Number((primary as RegExpExecArray)[2])]);
    expect(app).toContain(`'--mantine-color-error': '${SMART_STYLE.color_error}'`);
    expect(app).toContain(`fontFamily: '${SMART_STYLE.font_family_body}'`);
    expect(ui).toContain(`good: '${SMART_STYLE.color_success}'`);
    expect(SMART_STYLE.font_family_heading).toBe(DEFAULT_THEME.headings.fontFamily);
    const px = (css: string) => `${Number(/calc\(([\d.]+)rem/.exec(css)?.[1]) * 16}px`;
    expect(SMART_STYLE.dim_border_radius).toBe(px(DEFAULT_THEME.radius[DEFAULT_THEME.defaultRadius as 'md']));
    expect(SMART_STYLE.dim_font_size).toBe(px(DEFAULT_THEME.fontSizes.md));
    expect(SMART_STYLE.dim_spacing_size).toBe(px(DEFAULT_THEME.spacing.md));
    expect(SMART_STYLE.color_background).toBe(`${DEFAULT_THEME.white}fff`);
    expect(SMART_STYLE.color_text).toBe(`${DEFAULT_THEME.black}000`);
  });
});
