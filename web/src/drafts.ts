// What a user had typed into a form when the sign-in ended (the registry answered 401: the refresh
// token outlived SIGNIN_IDLE_MINUTES, or the session its hours), kept through "Sign in again" and
// put back in the same form once, for the same user. Before, the "Signed out" screen replaced the
// form and the sign-in came back to an empty one: a nurse called away from a half-filled dose lost
// it all. A draft is written only at that moment, never while typing, so a form left on purpose
// (Cancel, another page) never comes back filled with an old lot number; an explicit Sign out
// clears the tab's storage, drafts included, as a shared clinic computer needs.
import { useEffect, useRef, useState } from 'react';

export const DRAFTS_KEY = 'iis-app-drafts';

/** The tab's storage (sessionStorage in the app; a Map-backed one in tests). */
export type DraftStorage = Pick<Storage, 'getItem' | 'setItem' | 'removeItem'>;

interface KeptDrafts {
  user: string;
  /** Page path → the form's values at the moment the sign-in ended. */
  forms: Record<string, unknown>;
}

/** The forms on screen now, each with what it holds and whether that differs from how it opened. */
const open = new Map<string, { user: string; values: () => unknown; changed: () => boolean }>();

/** Writes the open forms that hold typed data; answers whether any was kept. Called when the sign-in ends. */
export function keepDrafts(storage: DraftStorage = sessionStorage): boolean {
  let kept: KeptDrafts | undefined;
  for (const [path, form] of open) {
    if (!form.changed()) continue;
    kept ??= { user: form.user, forms: {} };
    if (form.user === kept.user) kept.forms[path] = form.values();
  }
  if (!kept) return false;
  storage.setItem(DRAFTS_KEY, JSON.stringify(kept));
  return true;
}

/** The draft kept for this page and user, removed as it is read; another user's drafts are dropped unread. */
export function takeDraft<T>(path: string, user: string, storage: DraftStorage = sessionStorage): T | undefined {
  const raw = storage.getItem(DRAFTS_KEY);
  if (!raw) return undefined;
  let kept: KeptDrafts;
  try {
    kept = JSON.parse(raw) as KeptDrafts;
  } catch {
    storage.removeItem(DRAFTS_KEY);
    return undefined;
  }
  if (kept.user !== user || typeof kept.forms !== 'object' || kept.forms === null) {
    storage.removeItem(DRAFTS_KEY);
    return undefined;
  }
  if (!(path in kept.forms)) return undefined;
  const draft = kept.forms[path] as T;
  delete kept.forms[path];
  if (Object.keys(kept.forms).length === 0) storage.removeItem(DRAFTS_KEY);
  else storage.setItem(DRAFTS_KEY, JSON.stringify(kept));
  return draft;
}

/** Registers a form for keepDrafts while it is on screen (exported for the unit test). */
export function registerForm(path: string, user: string, values: () => unknown, changed: () => boolean): () => void {
  const entry = { user, values, changed };
  open.set(path, entry);
  return () => {
    if (open.get(path) === entry) open.delete(path);
  };
}

/**
 * A form's values, kept when the sign-in ends and put back when the same user signs in again to
 * the same page. `restored` is true when the form opened with a kept draft (the screen says so).
 */
export function useKeptForm<T>(user: string, initial: () => T): [T, (next: T) => void, boolean] {
  const path = window.location.pathname;
  const [start] = useState(() => {
    const draft = takeDraft<T>(path, user);
    return { values: draft ?? initial(), restored: draft !== undefined, pristine: JSON.stringify(initial()) };
  });
  const [values, setValues] = useState<T>(start.values);
  const current = useRef(values);
  current.current = values;
  useEffect(
    () => registerForm(path, user, () => current.current, () => JSON.stringify(current.current) !== start.pristine),
    [path, user, start]
  );
  return [values, setValues, start.restored];
}
