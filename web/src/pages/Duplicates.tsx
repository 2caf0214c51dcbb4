// Possible duplicates: records the server stored as probable matches of another (tagged for
// review). The review shows both records side by side and ends in one of two ways: the same child
// ($merge, preview first) or not the same child (a PUT of the tagged record without that pair's
// possible-duplicate-of, guarded by If-Match; see duplicate-review.ts).
import { Alert, Button, Group, List, Loader, Table, Text } from '@mantine/core';
import { useEffect, useRef, useState } from 'react';
import { showDate } from '../dates';
import { ApiError } from '../fhir';
import type { Bundle, Immunization, OperationOutcome, Parameters, Patient } from '../fhir-types';
import { useSession } from '../session';
import { AppLink, BADGE, ErrorPanel, genderText, PageTitle, patientName, TableScroll } from '../ui';
import { duplicateOf, notTheSameChild, REVIEW_TAG, underReview } from './duplicate-review';

/** A 412 to the If-Match PUT: someone (or a new message from a provider) changed the record meanwhile. */
const CHANGED_MEANWHILE = new Error(
  'This record changed after the page was opened (another user, or a new message from a provider), so nothing was saved. Reload the page to see the record as it is now, then decide again.'
);

export function Duplicates() {
  const { api } = useSession();
  const [patients, setPatients] = useState<Patient[] | undefined>();
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    api
      .get<Bundle<Patient>>(`Patient?_tag=${encodeURIComponent(REVIEW_TAG)}&active:not=false&_count=100`)
      .then((b) => setPatients((b.entry ?? []).map((e) => e.resource as Patient).filter((p) => duplicateOf(p).length > 0)), setError);
  }, [api]);
  return (
    <>
      <PageTitle>Possible duplicates</PageTitle>
      <Text mb="md">Records the registry stored as probably the same person as an existing record. Review each pair and merge when they are the same child.</Text>
      <ErrorPanel error={error} title="The review list could not be loaded" />
      {!patients && !error && <Loader size="sm" aria-label="Loading" />}
      {patients && patients.length === 0 && <Text>No records are waiting for review.</Text>}
      {patients && patients.length > 0 && (
        <TableScroll label="Possible duplicates">
          <Table withTableBorder striped aria-label="Possible duplicates">
            <Table.Thead>
              <Table.Tr>
                <Table.Th scope="col">Name</Table.Th>
                <Table.Th scope="col">Date of birth</Table.Th>
                <Table.Th scope="col">Possible duplicate of</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {patients.map((p) => (
                <Table.Tr key={p.id}>
                  <Table.Td>
                    <AppLink to={`/app/duplicates/${p.id}`}>{patientName(p)}</AppLink>
                  </Table.Td>
                  <Table.Td>{showDate(p.birthDate)}</Table.Td>
                  <Table.Td>{duplicateOf(p).length} record(s)</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </TableScroll>
      )}
    </>
  );
}

interface Side {
  patient: Patient;
  immunizations: number;
}

export function DuplicateReview({ patientId }: { patientId: string }) {
  const { api } = useSession();
  const [source, setSource] = useState<Side | undefined>();
  const [targets, setTargets] = useState<Side[]>([]);
  const [targetId, setTargetId] = useState<string | undefined>();
  const [preview, setPreview] = useState<{ summary: string[]; result?: Patient } | undefined>();
  const [merged, setMerged] = useState<string | undefined>();
  const [error, setError] = useState<unknown>();
  const [errorTitle, setErrorTitle] = useState('The merge did not happen');
  const [busy, setBusy] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const [separated, setSeparated] = useState<string | undefined>();
  const confirmRef = useRef<HTMLDivElement>(null);
  const notSameRef = useRef<HTMLButtonElement>(null);
  const doneRef = useRef<HTMLDivElement>(null);

  // The confirmation and the result take focus, so keyboard and screen-reader users are told at once.
  useEffect(() => {
    if (confirming) confirmRef.current?.focus();
  }, [confirming]);
  useEffect(() => {
    if (separated) doneRef.current?.focus();
  }, [separated]);

  useEffect(() => {
    const side = async (id: string): Promise<Side> => {
      const [patient, imms] = await Promise.all([
        api.get<Patient>(`Patient/${id}`),
        api.get<Bundle<Immunization>>(`Immunization?patient=Patient/${id}&_summary=count`),
      ]);
      return { patient, immunizations: imms.total ?? 0 };
    };
    (async () => {
      const s = await side(patientId);
      setSource(s);
      const others = await Promise.all(duplicateOf(s.patient).map((id) => side(id).catch(() => undefined)));
      const found = others.filter((o): o is Side => Boolean(o));
      setTargets(found);
      setTargetId(found[0]?.patient.id);
    })().catch(setError);
  }, [api, patientId]);

  const target = targets.find((t) => t.patient.id === targetId);
  const mergeParams = (previewOnly: boolean): Parameters => ({
    resourceType: 'Parameters',
    parameter: [
      { name: 'source-patient', valueReference: { reference: `Patient/${patientId}` } },
      { name: 'target-patient', valueReference: { reference: `Patient/${targetId}` } },
      { name: 'preview', valueBoolean: previewOnly },
    ],
  });

  const run = async (previewOnly: boolean) => {
    setBusy(true);
    setError(undefined);
    setErrorTitle('The merge did not happen');
    try {
      const answer = await api.post<Parameters>('Patient/$merge', mergeParams(previewOnly));
      const outcome = answer.parameter?.find((p) => p.name === 'outcome')?.resource as OperationOutcome | undefined;
      const summary = (outcome?.issue ?? []).map((i) => i.diagnostics ?? i.details?.text ?? '').filter(Boolean);
      const result = answer.parameter?.find((p) => p.name === 'result')?.resource as Patient | undefined;
      if (previewOnly) setPreview({ summary, result });
      else setMerged(summary.join(' ') || 'The records were merged.');
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  const keepSeparate = async () => {
    if (!source || !target) return;
    setBusy(true);
    setError(undefined);
    setErrorTitle('Nothing was changed');
    const other = target.patient;
    try {
      const version = source.patient.meta?.versionId;
      const saved = await api.put<Patient>(`Patient/${patientId}`, notTheSameChild(source.patient, other.id ?? ''), version ? { 'If-Match': `W/"${version}"` } : {});
      const left = targets.filter((t) => t.patient.id !== other.id);
      setSource({ ...source, patient: saved ?? source.patient });
      setTargets(left);
      setTargetId(left[0]?.patient.id);
      setPreview(undefined);
      setConfirming(false);
      setSeparated(
        `${patientName(source.patient)} (${patientId}) and ${patientName(other)} (${other.id}) are recorded as different children; both records stay as they were. ` +
          (saved && underReview(saved) ? `This record still resembles ${duplicateOf(saved).length} other record(s) and stays on the review list.` : 'This record is no longer waiting for review.')
      );
    } catch (err) {
      setError(err instanceof ApiError && err.status === 412 ? CHANGED_MEANWHILE : err);
    } finally {
      setBusy(false);
    }
  };

  const cancelConfirm = () => {
    setConfirming(false);
    notSameRef.current?.focus();
  };

  const rows: Array<[string, (s: Side) => string]> = [
    ['Name', (s) => patientName(s.patient)],
    ['Other names', (s) => (s.patient.name ?? []).slice(1).map((n) => [...(n.given ?? []), n.family].join(' ')).join('; ') || '—'],
    ['Date of birth', (s) => showDate(s.patient.birthDate)],
    ['Gender', (s) => genderText(s.patient.gender)],
    ['Birth order', (s) => (s.patient.multipleBirthInteger !== undefined ? String(s.patient.multipleBirthInteger) : '—')],
    ['Address', (s) => (s.patient.address?.[0] ? [s.patient.address[0].line?.join(' '), s.patient.address[0].city, s.patient.address[0].state].filter(Boolean).join(', ') : '—')],
    ['Phone', (s) => s.patient.telecom?.find((t) => t.system === 'phone')?.value ?? '—'],
    ['Mother’s maiden name', (s) => s.patient.extension?.find((x) => x.url.endsWith('patient-mothersMaidenName'))?.valueString ?? '—'],
    ['Identifiers', (s) => (s.patient.identifier ?? []).map((i) => i.value).join(', ') || '—'],
    ['Immunizations', (s) => String(s.immunizations)],
    ['Registry ID', (s) => s.patient.id ?? '—'],
  ];

  return (
    <>
      <PageTitle>Review possible duplicate</PageTitle>
      <ErrorPanel error={error} title={errorTitle} />
      {separated && (
        <>
          {/* Links go below the green box: the app's link blue is 4.37:1 on its background (axe). */}
          <Alert color="green" title="Kept as different children" role="status" mb="xs" ref={doneRef} tabIndex={-1}>
            {separated}
          </Alert>
          <Text mb="md">
            <AppLink to="/app/duplicates">Back to possible duplicates</AppLink>
          </Text>
        </>
      )}
      {merged && (
        <>
          <Alert color="green" title="Merged" role="status" mb="xs">
            {merged}
          </Alert>
          <Text mb="md">
            <AppLink to={`/app/patients/${targetId}`}>Open the merged record</AppLink>
          </Text>
        </>
      )}
      {!source && !error && <Loader size="sm" aria-label="Loading" />}
      {source && targets.length === 0 && !separated && <Text>The records this one resembled are no longer available.</Text>}
      {source && target && (
        <>
          {targets.length > 1 && (
            <Group mb="sm">
              {targets.map((t) => (
                <Button key={t.patient.id} variant={t.patient.id === targetId ? 'filled' : 'outline'} onClick={() => (setTargetId(t.patient.id), setPreview(undefined), setConfirming(false))}>
                  Compare with {patientName(t.patient)} ({t.patient.id})
                </Button>
              ))}
            </Group>
          )}
          <TableScroll label="Records side by side">
            <Table withTableBorder aria-label="Records side by side">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th scope="col">Field</Table.Th>
                  <Table.Th scope="col">New record (would be merged away)</Table.Th>
                  <Table.Th scope="col">Existing record (kept)</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map(([label, value]) => {
                  const a = value(source);
                  const b = value(target);
                  return (
                    <Table.Tr key={label}>
                      <Table.Th scope="row">{label}</Table.Th>
                      <Table.Td fw={a !== b && label !== 'Registry ID' ? 700 : undefined}>{a}</Table.Td>
                      <Table.Td fw={a !== b && label !== 'Registry ID' ? 700 : undefined}>{b}</Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </TableScroll>
          <Text size="sm" mt="xs">
            Fields that differ are in bold.
          </Text>
          {!merged && (
            <Group mt="md">
              <Button onClick={() => void run(true)} loading={busy && !preview}>
                Preview merge
              </Button>
              {preview && (
                <Button color={BADGE.bad} onClick={() => void run(false)} loading={busy}>
                  Merge records
                </Button>
              )}
              <Button variant="outline" ref={notSameRef} onClick={() => setConfirming(true)} disabled={busy}>
                Not the same child
              </Button>
            </Group>
          )}
          {confirming && !merged && (
            <Alert color="yellow" title="Not the same child?" mt="md" role="group" ref={confirmRef} tabIndex={-1}>
              <Text size="sm">
                The registry will keep {patientName(source.patient)} ({patientId}) and {patientName(target.patient)} ({target.patient.id}) as two different children. This
                record will no longer be listed as a possible duplicate of that one. Nothing else changes: no names, dates, identifiers or immunizations move, and both records
                stay active.
              </Text>
              <Group mt="sm">
                <Button onClick={() => void keepSeparate()} loading={busy}>
                  Yes, keep them separate
                </Button>
                <Button variant="default" onClick={cancelConfirm} disabled={busy}>
                  Cancel
                </Button>
              </Group>
            </Alert>
          )}
          {preview && !merged && (
            <Alert color="blue" title="What the merge will do" mt="md">
              <List size="sm">
                {preview.summary.map((s) => (
                  <List.Item key={s}>{s}</List.Item>
                ))}
              </List>
              {preview.result && (
                <Text size="sm" mt="xs">
                  The kept record will be {patientName(preview.result)}, born {showDate(preview.result.birthDate)}, with {(preview.result.name ?? []).length} name(s) and{' '}
                  {(preview.result.identifier ?? []).length} identifier(s).
                </Text>
              )}
            </Alert>
          )}
        </>
      )}
    </>
  );
}
