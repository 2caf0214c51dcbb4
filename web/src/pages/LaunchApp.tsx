// "Launch app" on a patient's record: the SMART apps registered with a launch URL, opened for this
// patient by an EHR launch (the sign-in server's /auth/launch: it checks that the user may see the
// patient and answers the app's launch URL with iss and a single-use launch id).
import { Button, Group, Stack } from '@mantine/core';
import { useEffect, useId, useState } from 'react';
import { useSession } from '../session';
import { ErrorPanel } from '../ui';

interface LaunchableApp {
  clientId: string;
  name: string;
}

export function LaunchApp({ patientId }: { patientId: string }) {
  const { api } = useSession();
  const [apps, setApps] = useState<LaunchableApp[]>([]);
  const [error, setError] = useState<unknown>();
  const [opening, setOpening] = useState(false);
  const [open, setOpen] = useState(false);
  const listId = useId();

  useEffect(() => {
    let current = true;
    api
      .signin<{ apps: LaunchableApp[] }>('GET', 'launch/apps')
      .then((body) => current && setApps(body.apps))
      // No list, no control: the record itself stays usable.
      .catch(() => current && setApps([]));
    return () => {
      current = false;
    };
  }, [api]);

  const launch = async (app: LaunchableApp) => {
    setOpening(true);
    setError(undefined);
    try {
      const { launchUrl } = await api.signin<{ launchUrl: string }>('POST', 'launch', { clientId: app.clientId, patient: patientId });
      window.location.assign(launchUrl);
    } catch (err) {
      setError(err);
      setOpening(false);
    }
  };

  if (apps.length === 0) return null;
  // A disclosure (button + list of buttons), not an ARIA menu: plain Tab/Enter, nothing for
  // assistive technology to guess (Mantine's Menu dropdown fails axe's aria-required-children).
  return (
    <Stack gap="xs" align="flex-end" mb="md">
      <ErrorPanel error={error} title="The app could not be opened" />
      <Button variant="outline" aria-expanded={open} aria-controls={listId} loading={opening} onClick={() => setOpen((o) => !o)}>
        Launch app
      </Button>
      {open && (
        <Group component="ul" id={listId} aria-label="Apps that can open this patient" gap="xs" justify="flex-end" style={{ listStyle: 'none', margin: 0, padding: 0 }}>
          {apps.map((app) => (
            <li key={app.clientId}>
              <Button variant="light" disabled={opening} onClick={() => void launch(app)}>
                {app.name}
              </Button>
            </li>
          ))}
        </Group>
      )}
    </Stack>
  );
}
