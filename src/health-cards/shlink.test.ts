// The `shlink:/` payload as the SMART Health Links specification builds it: minified JSON,
// base64url, the prefix, optionally behind a viewer URL ending in `#`.
import { describe, expect, it } from 'vitest';
import { decodeShlink, encodeShlink, linkHandle, linkIdOf } from './shlink.js';

// The specification's own example ("Example SMART Health Link Generation").
const SPEC_PAYLOAD = {
  url: 'https://ehr.example.org/qr/Y9xwkUdtmN9wwoJoN3ffJIhX2UGvCL1JnlPVNL3kDWM/m',
  flag: 'LP',
  key: 'rxTgYlOaKJPFtcEd0qcceN8wEU4p94SqAwIWQe6uX7Q',
  label: 'Back-to-school immunizations for Oliver Brown',
};
const SPEC_ENCODED =
  'eyJ1cmwiOiJodHRwczovL2Voci5leGFtcGxlLm9yZy9xci9ZOXh3a1VkdG1OOXd3b0pvTjNmZkpJaFgyVUd2Q0wxSm5sUFZOTDNrRFdNL20iLCJmbGFnIjoiTFAiLCJrZXkiOiJyeFRnWWxPYUtKUEZ0Y0VkMHFjY2VOOHdFVTRwOTRTcUF3SVdRZTZ1WDdRIiwibGFiZWwiOiJCYWNrLXRvLXNjaG9vbCBpbW11bml6YXRpb25zIGZvciBPbGl2ZXIgQnJvd24ifQ';

describe('shlink payload', () => {
  it("decodes the specification's example, bare and behind a viewer URL", () => {
    expect(decodeShlink(`shlink:/${SPEC_ENCODED}`)).toEqual(SPEC_PAYLOAD);
    expect(decodeShlink(`https://viewer.example.org#shlink:/${SPEC_ENCODED}`)).toEqual(SPEC_PAYLOAD);
  });

  it('encodes minified JSON in base64url that decodes back; flags and label only when set', () => {
    const shlink = encodeShlink({ url: 'https://iis.example/shl/abc', key: 'k', exp: 1800000000, flag: 'LP', label: 'Shots' });
    expect(shlink).toMatch(/^shlink:\/[A-Za-z0-9_-]+$/);
    expect(JSON.parse(Buffer.from(shlink.slice(8), 'base64url').toString())).toEqual({ url: 'https://iis.example/shl/abc', key: 'k', exp: 1800000000, flag: 'LP', label: 'Shots' });
    expect(Object.keys(decodeShlink(encodeShlink({ url: 'u', key: 'k', flag: '' }))!)).toEqual(['url', 'key']);
  });

  it('refuses what is not a link', () => {
    for (const bad of ['', 'shlink:/', 'shlink:/!!!', `shlink:/${Buffer.from('[1]').toString('base64url')}`, `shlink:/${Buffer.from('{"url":1,"key":"k"}').toString('base64url')}`, 'https://x.example/#shc:/123']) {
      expect(decodeShlink(bad)).toBeUndefined();
    }
  });

  it('the link id is the last path segment of the manifest URL; the handle is its SHA-256, not the id', () => {
    const id = 'I91rhba3VsuGXGchcnr6VHlQFKxfE28kuZ0ssbEuxno';
    expect(linkIdOf(`https://shl.example.org/shl/${id}`)).toBe(id);
    expect(linkIdOf('https://shl.example.org/shl/short')).toBeUndefined();
    expect(linkHandle(id)).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(linkHandle(id)).not.toBe(id);
  });
});
