// The app shell: launch and session, header navigation, and the screen for the current path.
import { Anchor, AppShell, Button, Container, Group, Input, Loader, MantineProvider, Text, createTheme, type CSSVariablesResolver } from '@mantine/core';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { completeLaunch, createApi, reportsOnly, restartSignIn, restoreSession, sessionInfo, signOutOfRegistry, startLaunch } from './fhir';
import type Client from 'fhirclient/lib/Client';
import { keepDrafts } from './drafts';
import { AddPatient } from './pages/AddPatient';
import { DuplicateReview, Duplicates } from './pages/Duplicates';
import { FindPatient } from './pages/FindPatient';
import { PatientRecord } from './pages/PatientRecord';
import { RecordImmunization } from './pages/RecordImmunization';
import { Reports } from './pages/Reports';
import { Users } from './pages/Users';
import { linkClick, navigate, useLocation } from './router';
import { SessionContext, useSession, type Session } from './session';
import { ErrorPanel, PageTitle } from './ui';

// Darker primary shades than the defaults so text on buttons and links meets WCAG AA contrast.
// No required asterisk inside any <label>: Mantine puts " *" in the label element, so the label's
// text was "Vaccine *" and getByLabel('Vaccine', { exact: true }) found nothing, though CONTRACT.md
// fixes the field's name as "Vaccine". A required field keeps `required` on its input (announced as
// required) and says "Required" in its description (requiredDescription in ui.tsx).
const theme = createTheme({
  primaryColor: 'blue',
  primaryShade: 8,
  fontFamily: 'system-ui, -apple-system, "Segoe UI", Roboto, sans-serif',
  components: { InputWrapper: Input.Wrapper.extend({ defaultProps: { withAsterisk: false } }) },
});
// Dimmed text, placeholders and error text in shades that keep 4.5:1 contrast on white.
const contrastSafe: CSSVariablesResolver = () => ({
  variables: {},
  light: { '--mantine-color-dimmed': '#495057', '--mantine-color-error': '#c92a2a', '--mantine-color-placeholder': '#5c636a' },
  dark: {},
});

type State =
  | { kind: 'starting' }
  | { kind: 'ready'; session: Session; client: Client }
  | { kind: 'signing-out' }
  | { kind: 'signed-out'; keptDrafts: boolean }
  | { kind: 'failed'; error: unknown };

export function App() {
  const location = useLocation();
  const [state, setState] = useState<State>({ kind: 'starting' });
  // The sign-in ended (401): what the open form holds is kept before the screen gives way.
  const onSignedOut = useCallback(() => {
    const keptDrafts = keepDrafts();
    setState((now) => (now.kind === 'signed-out' ? now : { kind: 'signed-out', keptDrafts }));
  }, []);
  // The Users screen is offered to those the sign-in server lets administer accounts.
  const [canAdminister, setCanAdminister] = useState(false);

  useEffect(() => {
    let cancelled = false;
    const begin = async () => {
      if (window.location.pathname === '/app/callback') {
        const { client, returnTo } = await completeLaunch();
        if (cancelled) return;
        setState({ kind: 'ready', session: { api: createApi(client, onSignedOut), info: sessionInfo(client) }, client });
        navigate(returnTo, true);
        return;
      }
      const client = await restoreSession();
      if (cancelled) return;
      if (client) setState({ kind: 'ready', session: { api: createApi(client, onSignedOut), info: sessionInfo(client) }, client });
      else await startLaunch(window.location.pathname + window.location.search);
    };
    begin().catch((error: unknown) => !cancelled && setState({ kind: 'failed', error }));
    return () => {
      cancelled = true;
    };
  }, [onSignedOut]);

  const signInAgain = () => {
    setState({ kind: 'starting' });
    restartSignIn();
  };
  const signOutNow = (client: Client) => {
    setState({ kind: 'signing-out' });
    void signOutOfRegistry(client);
  };

  const body = useMemo(() => {
    switch (state.kind) {
      case 'starting':
        return (
          <Group gap="sm" role="status">
            <Loader size="sm" aria-hidden />
            <Text>Signing you in…</Text>
          </Group>
        );
      case 'signing-out':
        return (
          <Group gap="sm" role="status">
            <Loader size="sm" aria-hidden />
            <Text>Signing you out…</Text>
          </Group>
        );
      case 'signed-out':
        return (
          <>
            <PageTitle>Signed out</PageTitle>
            <Text mb="md">Your sign-in has ended. Sign in again to continue where you were.</Text>
            {state.keptDrafts && <Text mb="md">What you had typed is kept: it will be back in the form after you sign in again (nothing was saved).</Text>}
            <Button onClick={signInAgain}>Sign in again</Button>
          </>
        );
      case 'failed':
        return (
          <>
            <PageTitle>Sign-in did not complete</PageTitle>
            <ErrorPanel error={launchError(state.error)} title="Sign-in failed" />
            <Button onClick={signInAgain}>Sign in again</Button>
          </>
        );
      case 'ready':
        return <Screen path={location.pathname} search={location.searchParams} />;
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [state, location.href]);

  const session = state.kind === 'ready' ? state.session : null;
  useEffect(() => {
    if (!session) return;
    const query = session.info.organization ? `?organization=${encodeURIComponent(session.info.organization)}` : '';
    session.api.admin('GET', `users${query}`).then(
      () => setCanAdminister(true),
      () => setCanAdminister(false)
    );
  }, [session]);
  return (
    <MantineProvider theme={theme} cssVariablesResolver={contrastSafe}>
      <SessionContext.Provider value={session}>
        <a className="skip-link" href="#main">
          Skip to content
        </a>
        <AppShell header={{ height: { base: 'auto' } }} padding="md">
          <AppShell.Header p="sm" pos="static">
            <Group justify="space-between" wrap="wrap" gap="xs">
              <Text fw={700} size="lg">
                Immunization registry
              </Text>
              {session && (
                <Group component="nav" aria-label="Main" gap="md" wrap="wrap">
                  {!reportsOnly(session.info) && (
                    <NavLink to="/app/" label="Find a patient" current={location.pathname === '/app/' || location.pathname.startsWith('/app/patients')} />
                  )}
                  <NavLink to="/app/reports" label="Reports" current={location.pathname === '/app/reports'} />
                  {!reportsOnly(session.info) && (
                    <NavLink to="/app/duplicates" label="Possible duplicates" current={location.pathname.startsWith('/app/duplicates')} />
                  )}
                  {canAdminister && <NavLink to="/app/users" label="Users" current={location.pathname === '/app/users'} />}
                  <Text size="sm" c="dimmed" component="span">
                    {session.info.user}
                    {session.info.organization ? ` · ${session.info.organization}` : ''}
                  </Text>
                  <Button
                    variant="subtle"
                    size="compact-sm"
                    onClick={() => state.kind === 'ready' && signOutNow(state.client)}
                  >
                    Sign out
                  </Button>
                </Group>
              )}
            </Group>
          </AppShell.Header>
          <AppShell.Main id="main" pt="md">
            <Container size="lg" px={0}>
              {body}
            </Container>
          </AppShell.Main>
        </AppShell>
      </SessionContext.Provider>
    </MantineProvider>
  );
}

function NavLink({ to, label, current }: { to: string; label: string; current: boolean }) {
  return (
    <Anchor href={to} onClick={(e: React.MouseEvent<HTMLAnchorElement>) => linkClick(e, to)} aria-current={current ? 'page' : undefined} fw={current ? 700 : 400}>
      {label}
    </Anchor>
  );
}

function launchError(error: unknown): Error {
  const text = error instanceof Error ? error.message : String(error);
  if (/state|SMART_KEY|No 'state'/i.test(text)) return new Error('The sign-in page sent the browser back without a session. Sign in again.');
  if (/authorize|authorization|well-known|metadata/i.test(text)) {
    return new Error(`The registry's sign-in service could not be reached or is not set up (${text}).`);
  }
  return new Error(text);
}

function Screen({ path, search }: { path: string; search: URLSearchParams }) {
  const { info } = useSession();
  let match: RegExpExecArray | null;
  if (path === '/app' || path === '/app/' || path === '/app/callback') {
    return reportsOnly(info) ? <GoTo to="/app/reports" /> : <FindPatient initial={search} />;
  }
  if (path === '/app/patients/new') return <AddPatient initial={search} />;
  if ((match = /^\/app\/patients\/([A-Za-z0-9\-.]{1,64})\/immunizations\/new$/.exec(path))) return <RecordImmunization patientId={match[1]} key={match[1]} />;
  if ((match = /^\/app\/patients\/([A-Za-z0-9\-.]{1,64})$/.exec(path))) return <PatientRecord patientId={match[1]} key={match[1]} />;
  if (path === '/app/reports') return <Reports />;
  if (path === '/app/duplicates') return <Duplicates />;
  if (path === '/app/users') return <Users />;
  if ((match = /^\/app\/duplicates\/([A-Za-z0-9\-.]{1,64})$/.exec(path))) return <DuplicateReview patientId={match[1]} key={match[1]} />;
  return (
    <>
      <PageTitle>Page not found</PageTitle>
      <Text>
        There is no page at this address. <Anchor href="/app/">Find a patient</Anchor>.
      </Text>
    </>
  );
}

/** Replaces the address with another screen's (the first screen of a reports user is Reports). */
function GoTo({ to }: { to: string }) {
  useEffect(() => navigate(to, true), [to]);
  return null;
}
