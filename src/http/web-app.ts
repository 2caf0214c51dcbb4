// The clinic web app (web/, built by Vite into web/dist) served at /app: hashed assets cached for
// good and sent gzipped when the browser accepts it (precompressed at build), every other /app
// path answered with index.html so the app's own router picks the screen.
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { type Request, type Response } from 'express';
import { acceptsGzip } from './app.js';

export const DEFAULT_WEB_APP_DIR = fileURLToPath(new URL('../../web/dist', import.meta.url));

const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  // Mantine sets CSS variables through style attributes.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "form-action 'self'",
].join('; ');

const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };

export function webAppRouter(distDir: string = DEFAULT_WEB_APP_DIR): express.Router {
  const router = express.Router();
  const assets = path.join(distDir, 'assets');

  router.get('/app/assets/:file', (req: Request, res: Response, next) => {
    const file = String(req.params.file);
    const type = TYPES[path.extname(file)];
    if (!/^[\w.-]+$/.test(file) || !type || !existsSync(path.join(assets, file))) {
      next();
      return;
    }
    res.setHeader('Content-Type', type);
    res.setHeader('Cache-Control', 'public, max-age=31536000, immutable');
    res.setHeader('Vary', 'Origin, Accept-Encoding');
    const gzip = acceptsGzip(req.headers['accept-encoding']) && existsSync(path.join(assets, `${file}.gz`));
    if (gzip) res.setHeader('Content-Encoding', 'gzip');
    res.sendFile(gzip ? `${file}.gz` : file, { root: assets, headers: { 'Content-Type': type } });
  });

  router.get(['/app', '/app/{*rest}'], (req: Request, res: Response) => {
    if (req.path === '/app') {
      res.redirect(301, '/app/');
      return;
    }
    const index = path.join(distDir, 'index.html');
    res.setHeader('Cache-Control', 'no-cache');
    res.setHeader('X-Content-Type-Options', 'nosniff');
    if (/^\/app\/assets\//.test(req.path) || !existsSync(index)) {
      const built = existsSync(index);
      res.status(built ? 404 : 503).type('text/plain').send(built ? 'No such file in the web app.\n' : 'The web app is not built yet: run `npm run build:web` (npm start does this).\n');
      return;
    }
    res.setHeader('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.sendFile('index.html', { root: distDir });
  });
  return router;
}
