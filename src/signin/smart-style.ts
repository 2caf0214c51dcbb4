// SMART App Launch 2's `smart_style_url` (the token response of a code exchange or refresh): a URL
// where an app finds the host's style parameters, so a launched app can look like the clinic web
// app it was opened from. The document uses the SMART styling properties (color_*, dim_*,
// font_family_*); every value is the clinic web app's (web/src/App.tsx: Mantine's theme with primary
// blue, shade 8, its font and its contrast-safe error colour; web/src/ui.tsx: its "good" badge
// colour for success; Mantine's default radius, font size, spacing and heading font).
// smart-style.test.ts checks them against the web app's sources and Mantine's default theme, so a
// change of the app's theme that is not made here fails a test.
import express from 'express';

export const SMART_STYLE_PATH = '/smart-style.json';

export const SMART_STYLE = {
  color_background: '#ffffff',
  color_error: '#c92a2a',
  color_highlight: '#1971c2',
  color_modal_backdrop: 'rgba(0, 0, 0, 0.6)',
  color_success: '#1b5e20',
  color_text: '#000000',
  dim_border_radius: '8px',
  dim_font_size: '16px',
  dim_spacing_size: '16px',
  font_family_body: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  font_family_heading: '-apple-system, BlinkMacSystemFont, Segoe UI, Roboto, Helvetica, Arial, sans-serif, Apple Color Emoji, Segoe UI Emoji',
} as const;

/** GET <basePath>/smart-style.json: public (apps read it from the browser: CORS *), cacheable for a day. */
export function smartStyleRouter(basePath: string): express.Router {
  const router = express.Router();
  const body = JSON.stringify(SMART_STYLE);
  router.get(`${basePath}${SMART_STYLE_PATH}`, (_req, res) => {
    res.setHeader('Content-Type', 'application/json; charset=utf-8');
    res.setHeader('Cache-Control', 'public, max-age=86400');
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.status(200).send(body);
  });
  return router;
}
