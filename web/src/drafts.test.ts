// What a form held when the sign-in ended comes back once, to the same user on the same page.
import { describe, expect, it } from 'vitest';
import { DRAFTS_KEY, keepDrafts, registerForm, takeDraft, type DraftStorage } from './drafts';

function memoryStorage(): DraftStorage & { items: Map<string, string> } {
  const items = new Map<string, string>();
  return { items, getItem: (k) => items.get(k) ?? null, setItem: (k, v) => void items.set(k, v), removeItem: (k) => void items.delete(k) };
}

describe('drafts kept when the sign-in ends', () => {
  const path = '/app/patients/p1/immunizations/new';

  it('keeps a changed form and gives it back once, to the same user and page', () => {
    const storage = memoryStorage();
    let values = { vaccine: '08', lot: 'LOT-7' };
    const unregister = registerForm(path, 'nurse', () => values, () => true);
    expect(keepDrafts(storage)).toBe(true);
    unregister();
    values = { vaccine: '', lot: '' };
    expect(takeDraft('/app/patients/p2/immunizations/new', 'nurse', storage)).toBeUndefined();
    expect(takeDraft(path, 'nurse', storage)).toEqual({ vaccine: '08', lot: 'LOT-7' });
    expect(takeDraft(path, 'nurse', storage)).toBeUndefined();
    expect(storage.items.has(DRAFTS_KEY)).toBe(false);
  });

  it('keeps nothing for a form as it opened, or once it left the screen', () => {
    const storage = memoryStorage();
    const unregister = registerForm(path, 'nurse', () => ({ lot: '' }), () => false);
    expect(keepDrafts(storage)).toBe(false);
    unregister();
    const gone = registerForm(path, 'nurse', () => ({ lot: 'X' }), () => true);
    gone();
    expect(keepDrafts(storage)).toBe(false);
    expect(storage.items.size).toBe(0);
  });

  it("never shows one user's draft to another: it is dropped unread", () => {
    const storage = memoryStorage();
    const unregister = registerForm(path, 'nurse.a', () => ({ lot: 'A-LOT' }), () => true);
    keepDrafts(storage);
    unregister();
    expect(takeDraft(path, 'nurse.b', storage)).toBeUndefined();
    expect(takeDraft(path, 'nurse.a', storage)).toBeUndefined();
  });

  it('reads a damaged entry as no draft', () => {
    const storage = memoryStorage();
    storage.setItem(DRAFTS_KEY, '{not json');
    expect(takeDraft(path, 'nurse', storage)).toBeUndefined();
    expect(storage.items.has(DRAFTS_KEY)).toBe(false);
  });
});
