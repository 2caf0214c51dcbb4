// CORS for browser apps (SMART apps, health-card verifiers): every origin may call the API with its
// bearer token; preflights are answered here. The same on every answer, the starting server's too.
import type { IncomingMessage, ServerResponse } from 'node:http';

const CORS_HEADERS = {
  'Access-Control-Allow-Methods': 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS',
  'Access-Control-Allow-Headers':
    'Authorization, Content-Type, Accept, If-Match, If-None-Match, If-None-Exist, If-Modified-Since, Prefer, X-Request-Id',
  'Access-Control-Expose-Headers':
    'ETag, Location, Content-Location, Last-Modified, X-Progress, Retry-After, Expires, X-Request-Id, Allow',
  'Access-Control-Max-Age': '600',
};

/** Sets the CORS headers; answers a preflight (OPTIONS) itself and returns false then. */
export function corsHeaders(req: IncomingMessage, res: ServerResponse): boolean {
  res.setHeader('Access-Control-Allow-Origin', req.headers.origin ?? '*');
  res.setHeader('Vary', 'Origin');
  if (req.method === 'OPTIONS') {
    for (const [name, value] of Object.entries(CORS_HEADERS)) res.setHeader(name, value);
    res.statusCode = 204;
    res.end();
    return false;
  }
  res.setHeader('Access-Control-Expose-Headers', CORS_HEADERS['Access-Control-Expose-Headers']);
  return true;
}
