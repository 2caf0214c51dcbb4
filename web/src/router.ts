// A small history-API router for the app's few paths under /app (no router library needed).
import { useEffect, useState } from 'react';

/** state: kept with the history entry for the next screen (e.g. what a save answered). */
export function navigate(to: string, replace = false, state: unknown = null): void {
  if (replace) window.history.replaceState(state, '', to);
  else window.history.pushState(state, '', to);
  window.dispatchEvent(new PopStateEvent('popstate'));
}

export function useLocation(): URL {
  const [href, setHref] = useState(window.location.href);
  useEffect(() => {
    const update = () => setHref(window.location.href);
    window.addEventListener('popstate', update);
    return () => window.removeEventListener('popstate', update);
  }, []);
  return new URL(href);
}

/** Plain left clicks on in-app links navigate without a page load; others behave as usual. */
export function linkClick(event: React.MouseEvent<HTMLAnchorElement>, to: string): void {
  if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
  event.preventDefault();
  navigate(to);
}

/**
 * For a screen that moves on when its request answers (Save → the record): whether the user is
 * still on the page the request left from. Someone who went elsewhere while a slow save was out
 * (the menu, Back) was pulled back to the record when it answered, away from what they were doing.
 */
export function stillOn(path: string): boolean {
  return window.location.pathname === path;
}
