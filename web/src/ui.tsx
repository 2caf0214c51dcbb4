// Small shared pieces: in-app links, the error panel, page titles that take focus, names.
import { Alert, Anchor, Button, List, Loader, Title, type ButtonProps } from '@mantine/core';
import { useEffect, useRef, useState, type ReactNode } from 'react';
import { ApiError } from './fhir';
import type { HumanName, Patient } from './fhir-types';
import { linkClick } from './router';

export function AppLink({ to, children }: { to: string; children: ReactNode }) {
  return (
    <Anchor href={to} onClick={(e: React.MouseEvent<HTMLAnchorElement>) => linkClick(e, to)}>
      {children}
    </Anchor>
  );
}

/**
 * A required field's description, which is where the app shows that it is required: the label keeps
 * only the field's name (no asterisk, see the theme in App.tsx) and the input carries `required`.
 */
export function requiredDescription(description?: string): string {
  return description ? `Required. ${description}` : 'Required';
}

/** The page's h1; takes focus when the page opens so keyboard and screen-reader users start there. */
export function PageTitle({ children }: { children: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    ref.current?.focus();
    document.title = `${typeof children === 'string' ? children : 'Immunization registry'} · Immunization registry`;
  }, [children]);
  return (
    <Title order={1} ref={ref} tabIndex={-1} mb="md" style={{ outline: 'none' }}>
      {children}
    </Title>
  );
}

/** ref: for screens that move the focus to the answer (tabIndex -1 makes it focusable). */
export function ErrorPanel({ error, title = 'Something went wrong', ref }: { error: unknown; title?: string; ref?: React.Ref<HTMLDivElement> }) {
  if (!error) return null;
  const message = error instanceof ApiError ? error.message : error instanceof Error ? error.message : String(error);
  const details = error instanceof ApiError ? error.details : [];
  return (
    <Alert color="red" title={title} role="alert" mb="md" variant="light" ref={ref} tabIndex={ref ? -1 : undefined}>
      {message}
      {details.length > 0 && (
        <List size="sm" mt="xs">
          {details.map((d) => (
            <List.Item key={d}>{d}</List.Item>
          ))}
        </List>
      )}
    </Alert>
  );
}

function currentName(patient: Patient): HumanName | undefined {
  const names = patient.name ?? [];
  return names.find((n) => n.use === 'official') ?? names.find((n) => n.use !== 'old') ?? names[0];
}

/** The id of the record this one was merged into (its `replaced-by` link), if any. */
export function mergedInto(patient: Patient): string | undefined {
  const reference = patient.link?.find((l) => l.type === 'replaced-by')?.other?.reference ?? '';
  return /^Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(reference)?.[1];
}

/** "Given Family" as people say it. */
export function patientName(patient: Patient): string {
  const name = currentName(patient);
  if (!name) return '(no name)';
  return [...(name.given ?? []), name.family].filter(Boolean).join(' ') || name.text || '(no name)';
}

export function genderText(gender: string | undefined): string {
  return gender ? gender[0].toUpperCase() + gender.slice(1) : '—';
}

/** Badge backgrounds dark enough for white text at 4.5:1 (WCAG AA, small bold text). */
export const BADGE = { good: '#1b5e20', caution: '#7a4500', neutral: '#495057', bad: '#a61e1e', info: '#1864ab' } as const;

/**
 * A button that shows it is working without becoming disabled. Mantine's `loading` disables the
 * button, and a disabled button drops the keyboard focus to the page's body: after Search, Save or
 * Run reminder/recall a keyboard or screen-reader user was left nowhere. While busy this one is
 * aria-disabled with a spinner, keeps the focus, and a press (or Enter in the form) does nothing.
 */
export function BusyButton({
  busy,
  onClick,
  children,
  ...rest
}: ButtonProps & { busy: boolean; type?: 'submit' | 'button'; onClick?: (event: React.MouseEvent<HTMLButtonElement>) => void }) {
  return (
    <Button
      {...rest}
      aria-disabled={busy || undefined}
      aria-busy={busy || undefined}
      leftSection={busy ? <Loader size={14} color="currentColor" aria-hidden /> : rest.leftSection}
      onClick={(event: React.MouseEvent<HTMLButtonElement>) => {
        if (busy) {
          event.preventDefault();
          return;
        }
        onClick?.(event);
      }}
    >
      {children}
    </Button>
  );
}

/**
 * The box a table scrolls sideways in, so the page itself never does (WCAG 1.4.10 reflow). When the
 * table is wider than the box (a 320 px window, 400 % zoom) the box is a named region in the tab
 * order, so a keyboard user can scroll it with the arrow keys (WCAG 2.1.1; axe
 * scrollable-region-focusable): at 320 px the Forecast and Immunization history tables, which hold
 * no link or button, could not be scrolled without a mouse. A table that fits adds no tab stop.
 */
export function TableScroll({ label, children }: { label: string; children: ReactNode }) {
  const ref = useRef<HTMLDivElement>(null);
  const [overflowing, setOverflowing] = useState(false);
  useEffect(() => {
    const box = ref.current;
    if (!box) return;
    const measure = () => setOverflowing(box.scrollWidth > box.clientWidth + 1);
    measure();
    const observer = new ResizeObserver(measure);
    observer.observe(box);
    for (const child of Array.from(box.children)) observer.observe(child);
    return () => observer.disconnect();
  }, []);
  return (
    <div ref={ref} className="table-scroll" {...(overflowing ? { role: 'region', 'aria-label': label, tabIndex: 0 } : {})}>
      {children}
    </div>
  );
}
