// A patient's record: demographics, data sharing (Yes / No, with history), immunization history
// with the CDSi evaluation of each dose, the forecast per vaccine group, and the Conditions (CDSi
// observations) the forecast reads — a Condition recorded or changed asks for the forecast again.
import { Alert, Badge, Button, Group, List, Loader, Paper, Radio, SimpleGrid, Stack, Table, Text, Title } from '@mantine/core';
import { useCallback, useEffect, useRef, useState } from 'react';
import { ageAt, showDate, today } from '../dates';
import { ApiError } from '../fhir';
import { mayCreate } from '../scopes';
import type { Bundle, Consent, Immunization, Parameters, Patient } from '../fhir-types';
import { readForecast, type Forecast, type ForecastRow } from '../forecast';
import { navigate } from '../router';
import { useSession } from '../session';
import { Conditions } from './Conditions';
import { LaunchApp } from './LaunchApp';
import type { SavedNotes } from './RecordImmunization';
import { consentStatus, currentSharing, newSharingConsent, personRecordIds, sharingHistory, type SharingStatus } from '../sharing';
import { AppLink, BADGE, ErrorPanel, genderText, mergedInto, PageTitle, patientName, TableScroll } from '../ui';
import { doseVaccineName, loadCvx } from '../vaccines';

export function PatientRecord({ patientId }: { patientId: string }) {
  const { api } = useSession();
  const [patient, setPatient] = useState<Patient | undefined>();
  const [closed, setClosed] = useState<ApiError | undefined>();
  const [error, setError] = useState<unknown>();
  const [loading, setLoading] = useState(true);
  // Bumped when a Condition is recorded or changed: the forecast is asked for again.
  const [conditionsRevision, setConditionsRevision] = useState(0);
  // What was just saved, said once: read when the record opens, then the address drops `?saved=`
  // and its history state, so a reload or a later visit through the history does not announce a
  // save again (it did, focus included).
  const [saved] = useState(() => new URLSearchParams(window.location.search).get('saved'));
  // The rule warnings the registry stored the dose with (RecordImmunization's Save puts them here).
  const [savedWarnings] = useState(() => (saved ? savedNotes() : []));
  useEffect(() => {
    if (saved) window.history.replaceState(null, '', window.location.pathname);
  }, [saved]);
  // After a save the focus goes to what it answered (and its warnings), read out by screen readers
  // as the page opens; a notice already in the page when it appears is not announced as a live
  // region is. Once, when the record first shows (not again after a data-sharing change).
  const savedRef = useRef<HTMLDivElement>(null);
  const shown = Boolean(patient);
  useEffect(() => {
    if (shown && saved) savedRef.current?.focus();
  }, [shown, saved]);

  const load = useCallback(async () => {
    setLoading(true);
    setError(undefined);
    try {
      setPatient(await api.get<Patient>(`Patient/${patientId}`));
      setClosed(undefined);
    } catch (err) {
      if (err instanceof ApiError && err.codes.includes('data-sharing-unknown')) setClosed(err);
      else setError(err);
      setPatient(undefined);
    } finally {
      setLoading(false);
    }
  }, [api, patientId]);

  useEffect(() => {
    void load();
  }, [load]);

  if (loading && !patient && !closed) {
    return (
      <>
        <PageTitle>Patient record</PageTitle>
        <Group role="status">
          <Loader size="sm" aria-hidden />
          <Text>Loading the record…</Text>
        </Group>
      </>
    );
  }
  if (error) {
    return (
      <>
        <PageTitle>Patient record</PageTitle>
        <ErrorPanel error={error} title="The record could not be opened" />
        <Button variant="outline" onClick={() => navigate('/app/')}>
          Back to search
        </Button>
      </>
    );
  }
  if (closed || !patient) {
    return (
      <>
        <PageTitle>Patient record</PageTitle>
        <Alert color="yellow" title="Record closed" mb="lg" role="alert">
          {closed?.message ?? 'This record is closed.'} Ask the patient or family whether they agree to share immunization records with other
          providers, then record Yes or No below.
        </Alert>
        <DataSharing patientId={patientId} onChange={load} closed />
      </>
    );
  }

  const survivor = patient.active === false ? mergedInto(patient) : undefined;
  return (
    <>
      <PageTitle>{patientName(patient)}</PageTitle>
      {saved && (
        <Alert color={savedWarnings.length ? 'yellow' : 'green'} title="Saved" mb="md" role="status" ref={savedRef} tabIndex={-1}>
          {saved === 'immunization' ? 'The immunization was recorded.' : 'The patient was saved.'}
          {savedWarnings.length > 0 && (
            <>
              <Text size="sm" mt="xs">
                {saved === 'immunization' ? 'The registry stored it with these data-quality warnings:' : 'The registry says:'}
              </Text>
              <List size="sm">
                {savedWarnings.map((warning) => (
                  <List.Item key={warning}>{warning}</List.Item>
                ))}
              </List>
            </>
          )}
        </Alert>
      )}
      {patient.active === false && (
        <Alert color="yellow" mb="md">
          This record is inactive (merged into another record).
          {survivor && (
            <>
              {' '}
              <AppLink to={`/app/patients/${survivor}`}>Open the record it was merged into</AppLink>: doses and data sharing are recorded there.
            </>
          )}
        </Alert>
      )}
      <LaunchApp patientId={patientId} />
      <Demographics patient={patient} />
      <Stack gap="xl" mt="xl">
        <DataSharing patientId={patientId} onChange={load} />
        <HistoryAndForecast
          patientId={patientId}
          revision={conditionsRevision}
          conditions={<Conditions patientId={patientId} onChange={() => setConditionsRevision((n) => n + 1)} />}
        />
      </Stack>
    </>
  );
}

function savedNotes(): string[] {
  const state = window.history.state as Partial<SavedNotes> | null;
  return Array.isArray(state?.notes) ? state.notes : [];
}

function Demographics({ patient }: { patient: Patient }) {
  const address = patient.address?.[0];
  const phone = patient.telecom?.find((t) => t.system === 'phone')?.value;
  const items: Array<[string, string]> = [
    ['Date of birth', `${showDate(patient.birthDate)} (${ageAt(patient.birthDate)})`],
    ['Gender', genderText(patient.gender)],
    ['Address', address ? [address.line?.join(' '), address.city, address.state, address.postalCode].filter(Boolean).join(', ') : '—'],
    ['Phone', phone ?? '—'],
    ['Registry ID', patient.id ?? '—'],
  ];
  if (patient.multipleBirthInteger !== undefined) items.push(['Birth order', String(patient.multipleBirthInteger)]);
  return (
    <Paper withBorder p="md">
      <Title order={2} size="h3" mb="sm">
        Demographics
      </Title>
      <SimpleGrid cols={{ base: 1, sm: 2, md: 3 }} spacing="sm" component="dl" style={{ margin: 0 }}>
        {items.map(([label, value]) => (
          <div key={label}>
            <Text component="dt" size="sm" c="dimmed">
              {label}
            </Text>
            <Text component="dd" m={0}>
              {value}
            </Text>
          </div>
        ))}
      </SimpleGrid>
    </Paper>
  );
}

function DataSharing({ patientId, onChange, closed = false }: { patientId: string; onChange: () => void; closed?: boolean }) {
  const { api, info } = useSession();
  const [consents, setConsents] = useState<Consent[] | undefined>();
  const [error, setError] = useState<unknown>();
  const [loadError, setLoadError] = useState<unknown>();
  // One choice saved at a time. The radios stay enabled meanwhile: disabling the one that has the
  // focus (it was just chosen, often with the arrow keys) dropped the focus to the page's body.
  const saving = useRef(false);
  const [message, setMessage] = useState<string | undefined>();
  // The choice just made shows at once; it stays until the stored Consents say the same.
  const [chosen, setChosen] = useState<'Yes' | 'No' | undefined>();

  const load = useCallback(async () => {
    try {
      // The choices recorded on every record of this child (merged records) count, as the registry applies them.
      const records = closed ? [patientId] : await personRecordIds(api, patientId);
      const bundle = await api.get<Bundle<Consent>>(`Consent?patient=${records.map((id) => `Patient/${id}`).join(',')}&_count=100`);
      setConsents((bundle.entry ?? []).map((e) => e.resource as Consent));
    } catch (err) {
      // A closed (Unknown) record may hide its Consents too: the choice can still be recorded.
      if (closed && err instanceof ApiError && err.status === 403) setConsents([]);
      else setLoadError(err);
    }
  }, [api, patientId, closed]);

  useEffect(() => {
    void load();
  }, [load]);

  // Data-entry users and site administrators may not record it (their tokens hold no Consent create).
  const mayRecord = mayCreate(info, 'Consent');
  const status: SharingStatus | undefined = closed ? 'Unknown' : consents ? (consents.length === 0 ? undefined : currentSharing(consents)) : undefined;
  const history = consents ? sharingHistory(consents) : [];

  const record = async (choice: 'Yes' | 'No') => {
    if (saving.current) return;
    saving.current = true;
    setChosen(choice);
    setError(undefined);
    setMessage(undefined);
    try {
      await api.post('Consent', newSharingConsent(patientId, choice, info.organization));
      await load();
      onChange();
      // Said once the history shows the new choice.
      setMessage(choice === 'Yes' ? 'Recorded: the family agrees to share this record.' : 'Recorded: the family objects to sharing this record.');
    } catch (err) {
      setError(err);
      setChosen(undefined);
    } finally {
      saving.current = false;
    }
  };

  return (
    <section aria-labelledby="sharing-heading">
      <Title order={2} id="sharing-heading" mb="sm">
        Data sharing
      </Title>
      <ErrorPanel error={loadError} title="The data-sharing choices could not be loaded" />
      <ErrorPanel error={error} title="The data-sharing choice was not saved" />
      <Text mb="xs">
        Current status: <strong>{consents === undefined ? 'loading…' : (status ?? 'Yes (nothing recorded)')}</strong>
      </Text>
      <Radio.Group
        label="Does the patient or family agree to share immunization records with other providers?"
        description={mayRecord ? undefined : 'Your account cannot record this choice (a clinician records it): ask a clinician to record Yes or No.'}
        value={chosen ?? (consents && status !== 'Unknown' && status ? status : null)}
        onChange={(value) => void record(value as 'Yes' | 'No')}
        mb="sm"
      >
        <Group mt="xs">
          <Radio value="Yes" label="Yes" disabled={!mayRecord} />
          <Radio value="No" label="No" disabled={!mayRecord} />
        </Group>
      </Radio.Group>
      <div role="status" aria-live="polite">
        {message && (
          <Text c="#1b5e20" size="sm">
            {message}
          </Text>
        )}
      </div>
      {history.length > 0 && (
        <TableScroll label="Data-sharing history">
          <Table withTableBorder mt="sm" aria-label="Data-sharing history">
            <Table.Thead>
              <Table.Tr>
                <Table.Th scope="col">Recorded</Table.Th>
                <Table.Th scope="col">Choice</Table.Th>
                <Table.Th scope="col">By</Table.Th>
              </Table.Tr>
            </Table.Thead>
            <Table.Tbody>
              {history.map((c) => (
                <Table.Tr key={c.id}>
                  <Table.Td>{showDate(c.dateTime ?? c.meta?.lastUpdated)}</Table.Td>
                  <Table.Td>{consentStatus(c) ?? c.status}</Table.Td>
                  <Table.Td>{c.organization?.map((o) => o.display ?? o.reference).join(', ') || '—'}</Table.Td>
                </Table.Tr>
              ))}
            </Table.Tbody>
          </Table>
        </TableScroll>
      )}
    </section>
  );
}

function HistoryAndForecast({ patientId, revision, conditions }: { patientId: string; revision: number; conditions: React.ReactNode }) {
  const { api } = useSession();
  const [immunizations, setImmunizations] = useState<Immunization[] | undefined>();
  const [forecast, setForecast] = useState<Forecast | undefined>();
  const [historyError, setHistoryError] = useState<unknown>();
  const [forecastError, setForecastError] = useState<unknown>();
  const asOf = today();

  useEffect(() => {
    let cancelled = false;
    api
      .get<Bundle<Immunization>>(`Immunization?patient=Patient/${patientId}&_count=500`)
      .then((bundle) => {
        if (cancelled) return;
        const list = (bundle.entry ?? []).map((e) => e.resource as Immunization);
        list.sort((a, b) => (a.occurrenceDateTime ?? '').localeCompare(b.occurrenceDateTime ?? ''));
        setImmunizations(list);
      })
      .catch((err: unknown) => !cancelled && setHistoryError(err));
    return () => {
      cancelled = true;
    };
  }, [api, patientId]);

  // The CVX code set's names, read (once per session) only when a dose carries no name of its own.
  const [cvxNames, setCvxNames] = useState<ReadonlyMap<string, string> | undefined>();
  const needsNames = Boolean(immunizations?.some((imm) => !doseVaccineName(imm.vaccineCode)));
  useEffect(() => {
    if (!needsNames) return;
    let cancelled = false;
    loadCvx(api).then(
      (list) => !cancelled && setCvxNames(new Map(list.map((v) => [v.cvx, v.name]))),
      () => undefined
    );
    return () => {
      cancelled = true;
    };
  }, [api, needsNames]);

  // The forecast again after each change of the Conditions (revision): they change what is due.
  useEffect(() => {
    let cancelled = false;
    setForecastError(undefined);
    api
      .get<Parameters>(`Patient/${patientId}/$immds-forecast?assessmentDate=${asOf}`)
      .then((params) => !cancelled && setForecast(readForecast(params, asOf)))
      .catch((err: unknown) => !cancelled && setForecastError(err));
    return () => {
      cancelled = true;
    };
  }, [api, patientId, asOf, revision]);

  return (
    <>
      <section aria-labelledby="forecast-heading">
        <Title order={2} id="forecast-heading" mb="sm">
          Forecast
        </Title>
        <ErrorPanel error={forecastError} title="The forecast could not be computed" />
        {!forecast && !forecastError && <Text role="status">Computing the forecast…</Text>}
        {forecast && <ForecastTable rows={forecast.rows} asOf={asOf} />}
      </section>
      {conditions}
      <section aria-labelledby="immunizations-heading">
        <Group justify="space-between" mb="sm">
          <Title order={2} id="immunizations-heading">
            Immunizations
          </Title>
          <Button onClick={() => navigate(`/app/patients/${patientId}/immunizations/new`)}>Record immunization</Button>
        </Group>
        <ErrorPanel error={historyError} title="The immunization history could not be loaded" />
        {!immunizations && !historyError && <Text role="status">Loading immunizations…</Text>}
        {immunizations && immunizations.length === 0 && <Text>No immunizations recorded.</Text>}
        {immunizations && immunizations.length > 0 && (
          <TableScroll label="Immunization history">
            <Table withTableBorder striped aria-label="Immunization history">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th scope="col">Date given</Table.Th>
                  <Table.Th scope="col">Vaccine</Table.Th>
                  <Table.Th scope="col">Lot number</Table.Th>
                  <Table.Th scope="col">Evaluation (CDSi)</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {immunizations.map((imm) => {
                  const evaluations = imm.id ? forecast?.evaluations.get(imm.id) : undefined;
                  const cvx = imm.vaccineCode?.coding?.find((c) => c.system === 'http://hl7.org/fhir/sid/cvx');
                  return (
                    <Table.Tr key={imm.id}>
                      <Table.Td>{showDate(imm.occurrenceDateTime ?? imm.occurrenceString)}</Table.Td>
                      <Table.Td>
                        {doseVaccineName(imm.vaccineCode, cvxNames) ?? 'Vaccine'}
                        {cvx?.code ? ` (CVX ${cvx.code})` : ''}
                        {imm.status !== 'completed' ? ` — ${imm.status}` : ''}
                      </Table.Td>
                      <Table.Td>{imm.lotNumber ?? '—'}</Table.Td>
                      <Table.Td>
                        {evaluations ? (
                          <Stack gap={2}>
                            {evaluations.map((e, i) => (
                              <Text size="sm" key={`${e.antigen}-${i}`}>
                                <Badge size="sm" color={e.valid ? BADGE.good : BADGE.bad} variant="filled" mr={6}>
                                  {e.valid ? 'Valid' : 'Not valid'}
                                </Badge>
                                {e.antigen}
                                {!e.valid && e.reason ? `: ${e.reason}` : ''}
                              </Text>
                            ))}
                          </Stack>
                        ) : forecast ? (
                          <Text size="sm">Not evaluated</Text>
                        ) : (
                          <Text size="sm">—</Text>
                        )}
                      </Table.Td>
                    </Table.Tr>
                  );
                })}
              </Table.Tbody>
            </Table>
          </TableScroll>
        )}
      </section>
    </>
  );
}

const URGENCY_BADGE: Record<ForecastRow['urgency'], { text: string; color: string } | undefined> = {
  overdue: { text: 'Overdue', color: BADGE.bad },
  due: { text: 'Due now', color: BADGE.caution },
  upcoming: { text: 'Upcoming', color: BADGE.info },
  none: undefined,
};

function ForecastTable({ rows, asOf }: { rows: ForecastRow[]; asOf: string }) {
  if (rows.length === 0) return <Text>No vaccine groups apply.</Text>;
  const dueCount = rows.filter((r) => r.urgency === 'due' || r.urgency === 'overdue').length;
  // Groups that do not apply to this patient (not recommended, aged out) are folded away.
  const quiet = (r: ForecastRow) => r.urgency === 'none' && (r.status === 'Not recommended' || r.status === 'Aged out');
  const shown = rows.filter((r) => !quiet(r));
  const folded = rows.filter(quiet);
  return (
    <>
      <Text mb="xs">
        As of {showDate(asOf)}: <strong>{dueCount === 0 ? 'nothing is due today' : `${dueCount} vaccine ${dueCount === 1 ? 'group is' : 'groups are'} due or overdue`}</strong>.
      </Text>
      <ForecastRows rows={shown} label="Forecast by vaccine group" />
      {folded.length > 0 && (
        <details style={{ marginTop: '0.75rem' }}>
          <summary>
            Not recommended or aged out ({folded.length}): {folded.map((r) => r.group).join(', ')}
          </summary>
          <ForecastRows rows={folded} label="Other vaccine groups" />
        </details>
      )}
    </>
  );
}

function ForecastRows({ rows, label }: { rows: ForecastRow[]; label: string }) {
  return (
    <TableScroll label={label}>
      <Table withTableBorder aria-label={label}>
        <Table.Thead>
          <Table.Tr>
            <Table.Th scope="col">Vaccine group</Table.Th>
            <Table.Th scope="col">Status</Table.Th>
            <Table.Th scope="col">Next dose</Table.Th>
            <Table.Th scope="col">Earliest</Table.Th>
            <Table.Th scope="col">Due</Table.Th>
            <Table.Th scope="col">Overdue after</Table.Th>
          </Table.Tr>
        </Table.Thead>
        <Table.Tbody>
          {rows.map((r) => {
            const badge = URGENCY_BADGE[r.urgency];
            return (
              <Table.Tr key={r.group} className={r.urgency === 'overdue' ? 'due-overdue' : r.urgency === 'due' ? 'due-now' : undefined}>
                <Table.Th scope="row">{r.group}</Table.Th>
                <Table.Td>
                  {badge ? (
                    <Badge color={badge.color} variant="filled">
                      {badge.text}
                    </Badge>
                  ) : (
                    r.status
                  )}
                </Table.Td>
                <Table.Td>{r.dose ?? '—'}</Table.Td>
                <Table.Td>{showDate(r.earliest)}</Table.Td>
                <Table.Td>{r.urgency === 'due' ? <strong>{showDate(r.recommended)}</strong> : showDate(r.recommended)}</Table.Td>
                <Table.Td>{r.urgency === 'overdue' ? <strong>{showDate(r.pastDue)}</strong> : showDate(r.pastDue)}</Table.Td>
              </Table.Tr>
            );
          })}
        </Table.Tbody>
      </Table>
    </TableScroll>
  );
}
