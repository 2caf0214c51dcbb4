import { useEffect, useRef, useState } from 'react';

/**
 * Where the focus goes after a refused Save (by the form's own checks or by the registry): the
 * first field marked invalid, or else the refusal itself. The Save button was disabled while
 * saving, which would leave the focus nowhere. Give `formRef` to the form and `errorRef` to the
 * refusal panel; call `refused()` on each refusal.
 */
export function useRefusalFocus() {
  const formRef = useRef<HTMLFormElement>(null);
  const errorRef = useRef<HTMLDivElement>(null);
  const [refusals, setRefusals] = useState(0);
  useEffect(() => {
    if (refusals === 0) return;
    const invalid = formRef.current?.querySelector<HTMLElement>('[aria-invalid="true"]');
    (invalid ?? errorRef.current)?.focus();
  }, [refusals]);
  return { formRef, errorRef, refused: () => setRefusals((n) => n + 1) };
}
