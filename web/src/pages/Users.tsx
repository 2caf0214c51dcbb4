// Site administration: the users of the administrator's facility (the sign-in server's
// /auth/admin/users API; a site-admin sees and changes its own facility's accounts only).
import { Badge, Button, Group, NativeSelect, PasswordInput, SimpleGrid, Table, Text, TextInput, Title } from '@mantine/core';
import { useCallback, useEffect, useRef, useState } from 'react';
import { showDate } from '../dates';
import { ApiError } from '../fhir';
import { useSession } from '../session';
import { BADGE, BusyButton, ErrorPanel, PageTitle, requiredDescription, TableScroll } from '../ui';

export interface UserView {
  id: string;
  username: string;
  name?: string;
  organization?: string;
  role: string;
  active: boolean;
  locked: boolean;
  lastSignInAt?: string;
}

export const FACILITY_ROLES = [
  ['clinician', 'Clinician: reads, records doses and data sharing'],
  ['data-entry', 'Data entry: records patients and doses'],
  ['reports', 'Reports: reminder/recall and coverage only'],
  ['site-admin', 'Site administrator: manages this facility’s users'],
] as const;

export function Users() {
  const { api, info } = useSession();
  const [users, setUsers] = useState<UserView[] | undefined>();
  const [error, setError] = useState<unknown>();
  const [actionError, setActionError] = useState<unknown>();
  const [message, setMessage] = useState<string | undefined>();
  const [form, setForm] = useState({ username: '', name: '', password: '', role: 'clinician' });
  const [busy, setBusy] = useState(false);
  // The sign-in server's rules for a new account (src/signin/users.ts, passwords.ts), checked here
  // first so the field at fault is marked (aria-invalid, its words by aria-describedby) and focused;
  // its 400 names no field ("Check the fields below" had nothing marked). The server still decides.
  const [fieldErrors, setFieldErrors] = useState<{ username?: string; password?: string }>({});
  const [refusals, setRefusals] = useState(0);
  const addForm = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (refusals > 0) addForm.current?.querySelector<HTMLElement>('[aria-invalid="true"]')?.focus();
  }, [refusals]);
  const notAllowed = error instanceof ApiError && error.status === 403;
  const query = info.organization ? `?organization=${encodeURIComponent(info.organization)}` : '';

  const load = useCallback(async () => {
    try {
      const answer = await api.admin<{ users: UserView[] }>('GET', `users${query}`);
      setUsers(answer.users.sort((a, b) => a.username.localeCompare(b.username)));
    } catch (err) {
      setError(err);
    }
  }, [api, query]);

  useEffect(() => {
    void load();
  }, [load]);

  const change = async (user: UserView, patch: Record<string, unknown>, done: string) => {
    setActionError(undefined);
    setMessage(undefined);
    try {
      await api.admin('PATCH', `users/${encodeURIComponent(user.username)}`, patch);
      setMessage(done);
      await load();
    } catch (err) {
      setActionError(err);
    }
  };

  const add = async (event: React.FormEvent) => {
    event.preventDefault();
    const found: { username?: string; password?: string } = {};
    if (!/^[a-z0-9][a-z0-9._@-]{1,63}$/.test(form.username.trim().toLowerCase())) {
      found.username = 'Use 2 to 64 characters: letters, digits, ".", "_", "@" or "-", starting with a letter or digit';
    }
    if (form.password.length < 8) found.password = 'Use at least 8 characters';
    else if (form.password.length > 1024) found.password = 'Use at most 1024 characters';
    setFieldErrors(found);
    if (found.username || found.password) {
      setRefusals((n) => n + 1);
      return;
    }
    setBusy(true);
    setActionError(undefined);
    setMessage(undefined);
    try {
      await api.admin('POST', 'users', {
        username: form.username.trim(),
        password: form.password,
        role: form.role,
        ...(form.name.trim() ? { name: form.name.trim() } : {}),
        ...(info.organization ? { organization: info.organization } : {}),
      });
      setMessage(`Added ${form.username.trim()}.`);
      setForm({ username: '', name: '', password: '', role: 'clinician' });
      await load();
    } catch (err) {
      setActionError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <PageTitle>Users</PageTitle>
      <Text mb="md">People who may sign in for {info.organization ?? 'every facility'}.</Text>
      <ErrorPanel error={error} title="The users could not be listed" />
      <ErrorPanel error={actionError} title="The change was not made" />
      <div role="status" aria-live="polite">
        {message && (
          <Text c="#1b5e20" mb="sm">
            {message}
          </Text>
        )}
      </div>
      {users && (
        <TableScroll label="Users">
          <Table withTableBorder striped aria-label="Users">
            <Table.Thead>
              <Table.Tr>
                <Table.Th scope="col">Username</Table.Th>
                <Table.Th scope="col">Name</Table.Th>
                <Table.Th scope="col">Role</Table.Th>
                <Table.Th scope="col">Status</Table.Th>
                <Table.Th scope="col">Last sign-in</Table.Th>
                <Table.Th scope="col">Actions</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {users.map((u) => (
                <Table.Tr key={u.id}>
                  <Table.Th scope="row">{u.username}</Table.Th>
                  <Table.Td>{u.name ?? '—'}</Table.Td>
                  <Table.Td>
                    <NativeSelect
                      aria-label={`Role of ${u.username}`}
                      value={u.role}
                      onChange={(e) => void change(u, { role: e.currentTarget.value }, `${u.username} is now ${e.currentTarget.value}.`)}
                      data={FACILITY_ROLES.some(([r]) => r === u.role) ? FACILITY_ROLES.map(([value]) => ({ value, label: value })) : [{ value: u.role, label: u.role }]}
                    />
                  </Table.Td>
                  <Table.Td>
                    <Badge color={u.active ? BADGE.good : BADGE.neutral} variant="filled">
                      {u.active ? 'Active' : 'Disabled'}
                    </Badge>
                    {u.locked && (
                      <Badge color={BADGE.bad} variant="filled" ml={4}>
                        Locked
                      </Badge>
                    )}
                  </Table.Td>
                  <Table.Td>{u.lastSignInAt ? showDate(u.lastSignInAt) : 'never'}</Table.Td>
                  <Table.Td>
                    <Group gap="xs" wrap="nowrap">
                      <Button
                        size="compact-sm"
                        variant="outline"
                        aria-label={`${u.active ? 'Disable' : 'Enable'} ${u.username}`}
                        onClick={() => void change(u, { active: !u.active }, `${u.username} is ${u.active ? 'disabled' : 'enabled'}.`)}
                      >
                        {u.active ? 'Disable' : 'Enable'}
                      </Button>
                      {u.locked && (
                        <Button size="compact-sm" variant="outline" aria-label={`Unlock ${u.username}`} onClick={() => void change(u, { unlock: true }, `${u.username} is unlocked.`)}>
                          Unlock
                        </Button>
                      )}
                    </Group>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </TableScroll>
      )}
      {/* An account the sign-in server does not let administer accounts (403: a clinician, data-entry
          or reports user at this address) gets the reason above, not a form it would refuse. */}
      {!notAllowed && (
        <section aria-labelledby="add-user-heading" style={{ marginTop: '2rem' }}>
          <Title order={2} id="add-user-heading" mb="sm">
            Add a user
          </Title>
          <form onSubmit={add} aria-label="Add a user" noValidate ref={addForm}>
            <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="md">
              <TextInput
                label="New username"
                description={requiredDescription()}
                required
                value={form.username}
                onChange={(e) => setForm({ ...form, username: e.currentTarget.value })}
                autoComplete="off"
                error={fieldErrors.username}
              />
              <TextInput label="Full name" value={form.name} onChange={(e) => setForm({ ...form, name: e.currentTarget.value })} autoComplete="off" />
              <PasswordInput
                label="Initial password"
                description={requiredDescription('At least 8 characters')}
                required
                value={form.password}
                onChange={(e) => setForm({ ...form, password: e.currentTarget.value })}
                autoComplete="new-password"
                error={fieldErrors.password}
                // Mantine's PasswordInput links its error (aria-describedby) but does not set aria-invalid.
                aria-invalid={fieldErrors.password ? true : undefined}
              />
              <NativeSelect label="Role" value={form.role} onChange={(e) => setForm({ ...form, role: e.currentTarget.value })} data={FACILITY_ROLES.map(([value, label]) => ({ value, label }))} />
            </SimpleGrid>
            <BusyButton type="submit" mt="md" busy={busy}>
              Add user
            </BusyButton>
          </form>
        </section>
      )}
    </>
  );
}
