// The record's Conditions: the CDSi observations the forecast reads (evidence of immunity,
// contraindications, risk indications) — listed with since when and by which facility, recorded
// with a form (Condition suggestions from the server's CodeSystem/cdsi-observation, Date), and
// marked resolved or entered in error (after a confirmation in words). Every change tells the record
// so the forecast is asked again.
import { Alert, Button, Group, SimpleGrid, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  changedCondition,
  conditionRows,
  loadObservations,
  newCondition,
  observationLabel,
  resolveObservation,
  suggestObservations,
  type ConditionChange,
  type ConditionRow,
  type Observation,
} from '../conditions';
import { parseDate, showDate, today } from '../dates';
import type { Bundle, Condition, Organization } from '../fhir-types';
import { useSession } from '../session';
import { SuggestInput } from '../SuggestInput';
import { BusyButton, ErrorPanel, requiredDescription, TableScroll } from '../ui';

export function Conditions({ patientId, onChange }: { patientId: string; onChange: () => void }) {
  const { api, info } = useSession();
  const [conditions, setConditions] = useState<Condition[] | undefined>();
  const [observations, setObservations] = useState<Observation[]>([]);
  const [organizations, setOrganizations] = useState<Map<string, string>>(new Map());
  const [listError, setListError] = useState<unknown>();
  const [saveError, setSaveError] = useState<unknown>();
  const [message, setMessage] = useState<string | undefined>();
  const [formOpen, setFormOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const openButton = useRef<HTMLButtonElement>(null);
  // A change waiting for its confirmation; the confirmation takes focus, and gives it back on Cancel.
  const [confirming, setConfirming] = useState<{ row: ConditionRow; what: ConditionChange } | undefined>();
  const confirmRef = useRef<HTMLDivElement>(null);
  useEffect(() => {
    if (confirming) confirmRef.current?.focus();
  }, [confirming]);
  const actionButton = (row: ConditionRow, what: ConditionChange) => document.querySelector<HTMLButtonElement>(`[data-condition-action="${row.id}:${what}"]`);
  const askToConfirm = (row: ConditionRow, what: ConditionChange) => {
    setMessage(undefined);
    setSaveError(undefined);
    setConfirming({ row, what });
  };
  const cancelConfirm = () => {
    const back = confirming && actionButton(confirming.row, confirming.what);
    setConfirming(undefined);
    back?.focus();
  };

  const load = useCallback(async () => {
    try {
      const bundle = await api.get<Bundle<Condition>>(`Condition?patient=Patient/${patientId}&_count=200`);
      setConditions((bundle.entry ?? []).map((e) => e.resource as Condition));
      setListError(undefined);
    } catch (err) {
      setListError(err);
    }
  }, [api, patientId]);

  useEffect(() => {
    void load();
    loadObservations(api).then(setObservations, setListError);
  }, [api, load]);

  const rows = useMemo(() => (conditions ? conditionRows(conditions, observations) : []), [conditions, observations]);

  // Facility names for the "Recorded by" column (the rows carry references).
  useEffect(() => {
    const wanted = [...new Set(rows.map((r) => r.organization).filter((o): o is string => Boolean(o?.startsWith('Organization/'))))].filter((o) => !organizations.has(o));
    if (wanted.length === 0) return;
    let cancelled = false;
    void Promise.all(wanted.map((ref) => api.get<Organization>(ref).then((o) => [ref, o.name ?? ref] as const, () => [ref, ref] as const))).then((named) => {
      if (!cancelled) setOrganizations((known) => new Map([...known, ...named]));
    });
    return () => {
      cancelled = true;
    };
  }, [api, rows, organizations]);

  const closeForm = () => {
    setFormOpen(false);
    // The form is gone: focus goes back to the button that opened it.
    requestAnimationFrame(() => openButton.current?.focus());
  };

  const record = async (condition: Condition, title: string) => {
    setBusy(true);
    setSaveError(undefined);
    setMessage(undefined);
    try {
      await api.post('Condition', condition, { Prefer: 'return=minimal' });
      await load();
      onChange();
      closeForm();
      setMessage(`Recorded: ${title}. The forecast was updated.`);
    } catch (err) {
      setSaveError(err);
    } finally {
      setBusy(false);
    }
  };

  const change = async (row: ConditionRow, what: ConditionChange) => {
    const current = conditions?.find((c) => c.id === row.id);
    if (!current) return;
    setBusy(true);
    setSaveError(undefined);
    setMessage(undefined);
    try {
      const version = current.meta?.versionId;
      await api.put(`Condition/${row.id}`, changedCondition(current, what, today()), version ? { 'If-Match': `W/"${version}"`, Prefer: 'return=minimal' } : { Prefer: 'return=minimal' });
      await load();
      onChange();
      setConfirming(undefined);
      setMessage(`${row.what}: ${what === 'resolved' ? 'marked resolved' : 'marked entered in error'}. The forecast was updated.`);
      // The row's buttons changed: focus goes to the section's heading, next to the message.
      document.getElementById('conditions-heading')?.focus();
    } catch (err) {
      setSaveError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="conditions-heading">
      <Group justify="space-between" mb="sm">
        <Title order={2} id="conditions-heading" tabIndex={-1} style={{ outline: 'none' }}>
          Conditions
        </Title>
        {!formOpen && !listError && (
          <Button ref={openButton} variant="outline" onClick={() => setFormOpen(true)}>
            Record condition
          </Button>
        )}
      </Group>
      <Text size="sm" mb="xs">
        Evidence of immunity, contraindications and risk indications (CDC CDSi observations): the forecast takes them into account.
      </Text>
      <ErrorPanel error={listError} title="The conditions could not be loaded" />
      <ErrorPanel error={saveError} title="The condition was not saved" />
      <div role="status" aria-live="polite">
        {message && (
          <Text c="#1b5e20" size="sm" mb="xs">
            {message}
          </Text>
        )}
      </div>
      {confirming && (
        <Alert
          color="yellow"
          title={confirming.what === 'resolved' ? 'Mark as resolved?' : 'Mark as entered in error?'}
          mb="md"
          role="group"
          ref={confirmRef}
          tabIndex={-1}
        >
          <Text size="sm">
            {confirming.what === 'resolved'
              ? `“${confirming.row.what}” will be recorded as resolved today: as a contraindication or risk indication it no longer counts in the forecast.`
              : `“${confirming.row.what}” will be marked as entered in error: it stays in the record's history, but the forecast no longer reads it.`}
          </Text>
          <Group mt="sm">
            <Button onClick={() => void change(confirming.row, confirming.what)} loading={busy}>
              {confirming.what === 'resolved' ? 'Yes, resolved' : 'Yes, entered in error'}
            </Button>
            <Button variant="default" onClick={cancelConfirm} disabled={busy}>
              Cancel
            </Button>
          </Group>
        </Alert>
      )}
      {formOpen && <ConditionForm observations={observations} busy={busy} onCancel={closeForm} onSave={(o, onset) => void record(newCondition(patientId, o, onset, info.organization), o.title)} />}
      {!conditions && !listError && <Text role="status">Loading conditions…</Text>}
      {conditions && rows.length === 0 && <Text>No conditions recorded.</Text>}
      {rows.length > 0 && (
        <TableScroll label="Patient conditions">
          <Table withTableBorder aria-label="Patient conditions">
            <Table.Thead>
              <Table.Tr>
                <Table.Th scope="col">Condition</Table.Th>
                <Table.Th scope="col">Kind</Table.Th>
                <Table.Th scope="col">Since</Table.Th>
                <Table.Th scope="col">Status</Table.Th>
                <Table.Th scope="col">Recorded by</Table.Th>
                <Table.Th scope="col">Change</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {rows.map((r) => (
                <Table.Tr key={r.id}>
                  <Table.Th scope="row" style={{ fontWeight: r.current ? 600 : 400 }}>
                    {r.what} <Text span size="sm">(CDSi {r.code})</Text>
                  </Table.Th>
                  <Table.Td>{r.kinds.join(', ') || '—'}</Table.Td>
                  <Table.Td>{showDate(r.since)}</Table.Td>
                  <Table.Td>{r.current ? r.status : <em>{r.status}</em>}</Table.Td>
                  <Table.Td>{r.organization ? (organizations.get(r.organization) ?? r.organization) : '—'}</Table.Td>
                  <Table.Td>
                    <Stack gap={4} align="flex-start">
                      {r.canResolve && (
                        <Button
                          size="compact-sm"
                          variant="outline"
                          disabled={busy}
                          aria-label={`Mark ${r.what} resolved`}
                          data-condition-action={`${r.id}:resolved`}
                          onClick={() => askToConfirm(r, 'resolved')}
                        >
                          Resolved
                        </Button>
                      )}
                      {r.canMarkError && (
                        <Button
                          size="compact-sm"
                          variant="outline"
                          color="red.9"
                          disabled={busy}
                          aria-label={`Mark ${r.what} entered in error`}
                          data-condition-action={`${r.id}:entered-in-error`}
                          onClick={() => askToConfirm(r, 'entered-in-error')}
                        >
                          Entered in error
                        </Button>
                      )}
                    </Stack>
                  </Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </TableScroll>
      )}
    </section>
  );
}

function ConditionForm({ observations, busy, onSave, onCancel }: { observations: Observation[]; busy: boolean; onSave: (o: Observation, onset: string) => void; onCancel: () => void }) {
  const [text, setText] = useState('');
  const [date, setDate] = useState(today());
  const [errors, setErrors] = useState<{ condition?: string; date?: string }>({});
  const chosen = useMemo(() => resolveObservation(observations, text), [observations, text]);
  const options = useMemo(() => suggestObservations(observations, text).map(observationLabel), [observations, text]);

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    const onset = parseDate(date);
    const found: typeof errors = {};
    if (!chosen) found.condition = text.trim() ? 'Choose a condition from the suggestions, or type its CDSi code' : 'Enter the condition (CDSi code or words of its name)';
    if (!onset) found.date = 'Enter the date, e.g. 2024-03-05 or 03/05/2024';
    else if (onset > today()) found.date = 'The date cannot be in the future';
    setErrors(found);
    if (chosen && onset && !found.date) onSave(chosen, onset);
  };

  return (
    <form onSubmit={submit} noValidate aria-label="Record condition" style={{ marginBottom: '1rem' }}>
      <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="md">
        <SuggestInput label="Condition" description="CDSi code, words of its name, or a SNOMED code" listLabel="Matching conditions" value={text} onChange={setText} options={options} error={errors.condition} />
        <TextInput label="Date" description={requiredDescription('Since when (onset): YYYY-MM-DD or MM/DD/YYYY')} required value={date} onChange={(e) => setDate(e.currentTarget.value)} error={errors.date} />
      </SimpleGrid>
      <div aria-live="polite">
        {chosen && (
          <Text size="sm" mt="sm">
            Condition: CDSi {chosen.code} {chosen.title}
            {chosen.kinds.length > 0 ? ` — ${chosen.kinds.join(', ')}` : ''}
            {chosen.antigens.length > 0 ? ` (${chosen.antigens.join(', ')})` : ''}
          </Text>
        )}
      </div>
      <Group mt="md">
        <BusyButton type="submit" busy={busy}>
          Save
        </BusyButton>
        <Button variant="outline" onClick={onCancel}>
          Cancel
        </Button>
      </Group>
    </form>
  );
}
