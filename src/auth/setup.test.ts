import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../config.js';
import { mintTokenCommand } from './setup.js';

// The server prints this command on first start; run as printed, it must mint a token this server
// accepts (the secret is read from DATA_DIR, the aud is PUBLIC_BASE_URL/fhir).
describe('the printed token command', () => {
  it('is the bare command for the default port and data directory', () => {
    expect(mintTokenCommand(loadConfig({}))).toBe('npm run token -- --scope "system/*.cruds"');
  });

  it('names the port, the base URL and the data directory the server was started with', () => {
    expect(mintTokenCommand(loadConfig({ PORT: '9090' }))).toBe('PORT=9090 npm run token -- --scope "system/*.cruds"');
    expect(mintTokenCommand(loadConfig({ PORT: '9090', PUBLIC_BASE_URL: 'https://iis.example.org' }))).toBe(
      'PUBLIC_BASE_URL=https://iis.example.org npm run token -- --scope "system/*.cruds"'
    );
    const dataDir = path.resolve('/tmp/iis data');
    expect(mintTokenCommand(loadConfig({ DATA_DIR: dataDir }))).toBe(`DATA_DIR='${dataDir}' npm run token -- --scope "system/*.cruds"`);
  });
});
