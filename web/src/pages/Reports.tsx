// Reports for the practice: the reminder/recall list (filters, table, "Download CSV") and the
// coverage chart (the shipped measures, by vaccine and age group).
import { Anchor, Group, NativeSelect, Stack, Table, Text, TextInput, Title } from '@mantine/core';
import { useState } from 'react';
import { parseDate, showDate, today } from '../dates';
import { reportsOnly } from '../fhir';
import type { Bundle, ImmunizationRecommendation, MeasureReport, Patient } from '../fhir-types';
import { LOINC_PAST_DUE, LOINC_RECOMMENDED } from '../forecast';
import { useSession } from '../session';
import { AppLink, BusyButton, ErrorPanel, PageTitle, patientName, TableScroll } from '../ui';
import { coverageBar } from '../coverage';
import { CoverageChart, MEASURES, type CoverageBar } from './CoverageChart';

const GROUPS = ['DTaP/Tdap/Td', 'Polio', 'HepB', 'Hib', 'Pneumococcal', 'MMR', 'Varicella', 'Rotavirus', 'HepA', 'HPV', 'Influenza', 'Meningococcal', 'Meningococcal B', 'COVID-19', 'RSV', 'Zoster'];

// Patients per page of the list on screen. The server forecasts every patient of a page before it
// answers (measured at 100k Patients: 50 a page ≈ 1 s, 200 a page ≈ 5 s), so the first page is small
// and "Show more patients" pages on; the CSV holds the whole list.
const RECALL_PAGE = 50;

interface RecallRow {
  patient: Patient;
  group: string;
  dose?: string;
  recommended?: string;
  pastDue?: string;
  status: 'due' | 'overdue';
}

export function Reports() {
  const { api, info } = useSession();
  const [organization, setOrganization] = useState(info.organization ?? '');
  // A reports user cannot open the records: the names are not links to a refusal.
  const recordsOpen = !reportsOnly(info);
  const [filters, setFilters] = useState({ asOf: today(), vaccineGroup: '', status: '', ageMin: '', ageMax: '' });
  const [rows, setRows] = useState<RecallRow[] | undefined>();
  // The query of the list on screen: "Download CSV" asks the server for the same list as CSV.
  const [listQuery, setListQuery] = useState<string | undefined>();
  const [downloading, setDownloading] = useState(false);
  const [downloadError, setDownloadError] = useState<unknown>();
  const [next, setNext] = useState<string | undefined>();
  const [asOfUsed, setAsOfUsed] = useState(today());
  const [error, setError] = useState<unknown>();
  const [fieldError, setFieldError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const run = async (event: React.FormEvent) => {
    event.preventDefault();
    const asOf = parseDate(filters.asOf);
    if (!asOf) {
      setFieldError('Enter a real date, e.g. 2024-03-05');
      return;
    }
    setFieldError(undefined);
    const params = new URLSearchParams({ organization: organization.trim(), asOf });
    if (filters.vaccineGroup) params.set('vaccineGroup', filters.vaccineGroup);
    if (filters.status) params.set('status', filters.status);
    if (filters.ageMin.trim()) params.set('ageMin', filters.ageMin.trim());
    if (filters.ageMax.trim()) params.set('ageMax', filters.ageMax.trim());
    setBusy(true);
    setError(undefined);
    setDownloadError(undefined);
    try {
      // Only the first page here: the whole list as CSV is computed when the user asks for it.
      const bundle = await api.get<Bundle>(`$reminder-recall?${params}&_count=${RECALL_PAGE}`);
      setRows(recallRows(bundle, asOf));
      setNext(nextPage(bundle));
      setAsOfUsed(asOf);
      setListQuery(params.toString());
    } catch (err) {
      setError(err);
      setRows(undefined);
      setListQuery(undefined);
      setNext(undefined);
    } finally {
      setBusy(false);
    }
  };

  // The CSV needs the session's token, so the link cannot point at the server itself: one request
  // per click, handed to the browser as a file.
  const download = async (event: React.MouseEvent<HTMLAnchorElement>) => {
    event.preventDefault();
    if (!listQuery || downloading) return;
    setDownloading(true);
    setDownloadError(undefined);
    try {
      const csv = await api.text(`$reminder-recall?${listQuery}&_format=${encodeURIComponent('text/csv')}`, 'text/csv');
      saveFile(csv, 'text/csv', `reminder-recall-${asOfUsed}.csv`);
    } catch (err) {
      setDownloadError(err);
    } finally {
      setDownloading(false);
    }
  };

  const more = async () => {
    if (!next) return;
    setBusy(true);
    try {
      const bundle = await api.get<Bundle>(next);
      setRows([...(rows ?? []), ...recallRows(bundle, asOfUsed)]);
      setNext(nextPage(bundle));
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <PageTitle>Reports</PageTitle>
      <section aria-labelledby="recall-heading">
        <Title order={2} id="recall-heading" mb="sm">
          Reminder/recall
        </Title>
        <form onSubmit={run} noValidate aria-label="Reminder/recall filters">
          <Group align="flex-start" wrap="wrap">
            <TextInput label="Practice (organization)" value={organization} onChange={(e) => setOrganization(e.currentTarget.value)} w={{ base: '100%', sm: 240 }} />
            <TextInput label="As of" value={filters.asOf} error={fieldError} onChange={(e) => setFilters({ ...filters, asOf: e.currentTarget.value })} w={{ base: '100%', sm: 150 }} />
            <NativeSelect
              label="Vaccine group"
              value={filters.vaccineGroup}
              onChange={(e) => setFilters({ ...filters, vaccineGroup: e.currentTarget.value })}
              data={[{ value: '', label: 'All' }, ...GROUPS.map((g) => ({ value: g, label: g }))]}
            />
            <NativeSelect
              label="Status"
              value={filters.status}
              onChange={(e) => setFilters({ ...filters, status: e.currentTarget.value })}
              data={[
                { value: '', label: 'Due or overdue' },
                { value: 'due', label: 'Due' },
                { value: 'overdue', label: 'Overdue' },
              ]}
            />
            <TextInput label="Age from (years)" inputMode="numeric" value={filters.ageMin} onChange={(e) => setFilters({ ...filters, ageMin: e.currentTarget.value })} w={130} />
            <TextInput label="Age to (years)" inputMode="numeric" value={filters.ageMax} onChange={(e) => setFilters({ ...filters, ageMax: e.currentTarget.value })} w={130} />
          </Group>
          <Group mt="md">
            <BusyButton type="submit" busy={busy}>
              Run reminder/recall
            </BusyButton>
            {listQuery && (
              // A plain address would lack the token: opened elsewhere, it just shows this page.
              <Anchor href="/app/reports" onClick={(e: React.MouseEvent<HTMLAnchorElement>) => void download(e)} aria-busy={downloading || undefined}>
                Download CSV
              </Anchor>
            )}
            {downloading && (
              <Text size="sm" role="status">
                Preparing the CSV…
              </Text>
            )}
          </Group>
        </form>
        <Stack mt="md" gap="sm">
          <ErrorPanel error={error} title="The reminder/recall list could not be made" />
          <ErrorPanel error={downloadError} title="The CSV could not be downloaded" />
          <div role="status" aria-live="polite">
            {rows && <Text size="sm">{rows.length === 0 ? 'Nobody is due or overdue for these filters.' : `${new Set(rows.map((r) => r.patient.id)).size} patients, ${rows.length} doses due or overdue`}</Text>}
          </div>
          {rows && rows.length > 0 && (
            <TableScroll label="Reminder/recall list">
              <Table withTableBorder striped aria-label="Reminder/recall list">
                <Table.Thead>
                  <Table.Tr>
                    <Table.Th scope="col">Patient</Table.Th>
                    <Table.Th scope="col">Date of birth</Table.Th>
                    <Table.Th scope="col">Phone</Table.Th>
                    <Table.Th scope="col">Vaccine group</Table.Th>
                    <Table.Th scope="col">Dose</Table.Th>
                    <Table.Th scope="col">Due</Table.Th>
                    <Table.Th scope="col">Overdue after</Table.Th>
                    <Table.Th scope="col">Status</Table.Th>
                  </Table.Tr>
                </Table.Thead>
                <Table.Tbody>
                  {rows.map((r) => (
                    <Table.Tr key={`${r.patient.id}-${r.group}`}>
                      <Table.Td>
                        {recordsOpen ? <AppLink to={`/app/patients/${r.patient.id}`}>{patientName(r.patient)}</AppLink> : patientName(r.patient)}
                      </Table.Td>
                      <Table.Td>{showDate(r.patient.birthDate)}</Table.Td>
                      <Table.Td>{r.patient.telecom?.find((t) => t.system === 'phone')?.value ?? '—'}</Table.Td>
                      <Table.Td>{r.group}</Table.Td>
                      <Table.Td>{r.dose ?? '—'}</Table.Td>
                      <Table.Td>{showDate(r.recommended)}</Table.Td>
                      <Table.Td>{showDate(r.pastDue)}</Table.Td>
                      <Table.Td>{r.status === 'overdue' ? <strong>Overdue</strong> : 'Due'}</Table.Td>
                    </Table.Tr>
                  ))}
                </Table.Tbody>
              </Table>
            </TableScroll>
          )}
          {next && (
            <BusyButton variant="outline" onClick={() => void more()} busy={busy} w="fit-content">
              Show more patients
            </BusyButton>
          )}
        </Stack>
      </section>
      <Coverage organization={organization} />
    </>
  );
}

/** Offers text to the browser as a downloaded file. */
function saveFile(text: string, type: string, filename: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = document.createElement('a');
  link.href = url;
  link.download = filename;
  link.hidden = true;
  document.body.append(link);
  link.click();
  link.remove();
  // The browser has taken the file once the click is handled; the blob is then not needed.
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** The next page's path under the FHIR base, from the Bundle's absolute next link. */
function nextPage(bundle: Bundle): string | undefined {
  const url = bundle.link?.find((l) => l.relation === 'next')?.url;
  if (!url) return undefined;
  const at = url.indexOf('/fhir/');
  return at >= 0 ? url.slice(at + '/fhir/'.length) : undefined;
}

function recallRows(bundle: Bundle, asOf: string): RecallRow[] {
  const patients = new Map<string, Patient>();
  for (const e of bundle.entry ?? []) if (e.resource?.resourceType === 'Patient') patients.set(`Patient/${e.resource.id}`, e.resource as Patient);
  const rows: RecallRow[] = [];
  for (const e of bundle.entry ?? []) {
    if (e.resource?.resourceType !== 'ImmunizationRecommendation') continue;
    const rec = e.resource as ImmunizationRecommendation;
    const patient = patients.get(rec.patient?.reference ?? '');
    if (!patient) continue;
    for (const r of rec.recommendation ?? []) {
      const date = (code: string) => r.dateCriterion?.find((d) => d.code?.coding?.some((c) => c.code === code))?.value?.slice(0, 10);
      const recommended = date(LOINC_RECOMMENDED);
      const pastDue = date(LOINC_PAST_DUE);
      const status = pastDue && pastDue <= asOf ? 'overdue' : recommended && recommended <= asOf ? 'due' : undefined;
      if (!status) continue;
      rows.push({
        patient,
        group: r.vaccineCode?.[0]?.text ?? 'Vaccine',
        dose: r.doseNumberPositiveInt !== undefined ? String(r.doseNumberPositiveInt) : r.doseNumberString,
        recommended,
        pastDue,
        status,
      });
    }
  }
  return rows;
}

function Coverage({ organization }: { organization: string }) {
  const { api } = useSession();
  const [periodEnd, setPeriodEnd] = useState(today());
  const [bars, setBars] = useState<CoverageBar[] | undefined>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  const show = async (event: React.FormEvent) => {
    event.preventDefault();
    const end = parseDate(periodEnd);
    if (!end) return;
    setBusy(true);
    setError(undefined);
    try {
      const subject = organization.trim() ? `&subject=${encodeURIComponent(organization.trim())}` : '';
      const reports = await Promise.all(MEASURES.map((m) => api.get<MeasureReport>(`Measure/${m.id}/$evaluate-measure?periodEnd=${end}${subject}`)));
      setBars(reports.map((report, i) => coverageBar(report, MEASURES[i])));
    } catch (err) {
      setError(err);
      setBars(undefined);
    } finally {
      setBusy(false);
    }
  };

  return (
    <section aria-labelledby="coverage-heading" style={{ marginTop: '2.5rem' }}>
      <Title order={2} id="coverage-heading" mb="sm">
        Coverage
      </Title>
      <form onSubmit={show} noValidate aria-label="Coverage">
        <Group align="flex-end">
          <TextInput label="Period end" value={periodEnd} onChange={(e) => setPeriodEnd(e.currentTarget.value)} w={160} />
          <BusyButton type="submit" busy={busy}>
            Show coverage
          </BusyButton>
        </Group>
      </form>
      <ErrorPanel error={error} title="Coverage could not be computed" />
      {bars && <CoverageChart bars={bars} />}
    </section>
  );
}
