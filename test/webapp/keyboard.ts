// Driving a page with the keyboard only (Tab / Shift+Tab to a control by its accessible name), and
// the per-screen checks the issue asks for: desktop, tablet width (768 px) and 200 % zoom (a
// 1280 px window at 200 % lays out like a 640 px one), each without sideways scrolling and with
// axe-core reporting 0 serious/critical violations.
import type { Page } from 'playwright-core';
import { describeViolations, screenshot, seriousViolations } from './browser.js';

/** The accessible name of the focused element, roughly as a screen reader would say it. */
export function focusedName(page: Page): Promise<string> {
  return page.evaluate(() => {
    const el = document.activeElement as HTMLElement | null;
    if (!el || el === document.body) return '';
    const byIds = el.getAttribute('aria-labelledby');
    if (byIds) return byIds.split(/\s+/).map((id) => document.getElementById(id)?.textContent ?? '').join(' ').trim();
    const aria = el.getAttribute('aria-label');
    if (aria) return aria.trim();
    const labels = (el as HTMLInputElement).labels;
    if (labels && labels.length > 0) return (labels[0].textContent ?? '').replace(/\s*\*\s*$/, '').trim();
    return (el.textContent ?? '').trim();
  });
}

/** Presses Tab (or Shift+Tab) until the focused control's name matches; fails when it never does. */
export async function tabTo(page: Page, name: string | RegExp, options: { backwards?: boolean; limit?: number } = {}): Promise<void> {
  const wanted = typeof name === 'string' ? (n: string) => n === name : (n: string) => name.test(n);
  const seen: string[] = [];
  for (let i = 0; i < (options.limit ?? 60); i++) {
    await page.keyboard.press(options.backwards ? 'Shift+Tab' : 'Tab');
    const now = await focusedName(page);
    if (wanted(now)) return;
    seen.push(now);
  }
  throw new Error(`"${String(name)}" cannot be reached with the keyboard; Tab went through: ${seen.join(' | ')}`);
}

/** Replaces the focused field's text, as a keyboard user does (select all, type). */
export async function retype(page: Page, text: string): Promise<void> {
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Backspace');
  await page.keyboard.type(text);
}

// axe runs at the widest and the narrowest layout (contrast, names and roles do not change in
// between; a table that starts to scroll in its box does, at the narrow end); the tablet width is
// checked for sideways scrolling and cut labels. Fewer axe runs keep the browser test affordable.
const SIZES = [
  ['desktop', { width: 1280, height: 900 }, { axe: true }],
  ['tablet', { width: 768, height: 1024 }, { axe: false }],
  ['zoom-200', { width: 640, height: 450 }, { axe: true }],
] as const;

/**
 * The screen as it is now, at every size: no sideways scrolling, no badge cut short; axe 0
 * serious/critical and a screenshot at desktop and 200 %. The window is back at desktop size afterwards.
 * Returns the problems found (empty when the screen passes).
 */
export async function checkEverySize(page: Page, screen: string): Promise<string[]> {
  const problems: string[] = [];
  for (const [size, viewport, { axe }] of SIZES) {
    await page.setViewportSize(viewport);
    // Let the layout settle at the new width (Mantine's responsive props are CSS; one frame is enough).
    await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    if (overflow > 0) problems.push(`${screen} (${size}): the page is ${overflow} px wider than the screen`);
    const clipped = await page.evaluate(() =>
      [...document.querySelectorAll('.mantine-Badge-label')].filter((el) => el.scrollWidth > el.clientWidth + 1).map((el) => el.textContent)
    );
    if (clipped.length) problems.push(`${screen} (${size}): labels cut short: ${clipped.join(', ')}`);
    if (!axe) continue;
    const violations = await seriousViolations(page);
    if (violations.length) problems.push(`${screen} (${size}): ${describeViolations(violations)}`);
    await screenshot(page, `${screen}-${size}`);
  }
  await page.setViewportSize(SIZES[0][1]);
  return problems;
}
