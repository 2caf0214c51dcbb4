// fhirclient's polyfills (cross-fetch, isomorphic-webcrypto) are only reached in its legacy build;
// this app ships its "pure" build for modern browsers, so they resolve to the browser's own.
export default { fetch: globalThis.fetch, crypto: globalThis.crypto };
export const fetch = globalThis.fetch;
export const Headers = globalThis.Headers;
export const Request = globalThis.Request;
export const Response = globalThis.Response;
