// Find a patient: last name, first name, date of birth → candidates ranked by Patient/$match with
// their grades (a name search when no date of birth is given, a birth-date search when no last
// name is); "not found" offers to add one. At most PAGE rows are shown, and the screen says when
// more patients match (it said "20 patients found" of 27 Nguyens, with no hint that any were left).
import { Badge, Button, Group, Stack, Table, Text, TextInput } from '@mantine/core';
import { useEffect, useState } from 'react';
import { parseDate, showDate } from '../dates';
import type { Bundle, Patient } from '../fhir-types';
import { useRefusalFocus } from '../refusal-focus';
import { navigate } from '../router';
import { useSession } from '../session';
import { AppLink, BADGE, BusyButton, ErrorPanel, genderText, PageTitle, patientName, TableScroll } from '../ui';

const GRADE_EXTENSION = 'http://hl7.org/fhir/StructureDefinition/match-grade';
const GRADE_COLOR: Record<string, string> = { certain: BADGE.good, probable: BADGE.caution, possible: BADGE.neutral };

/** Rows shown; one more is asked for, to know whether more patients match than are shown. */
const PAGE = 20;

interface Row {
  patient: Patient;
  grade?: string;
  score?: number;
}

interface Criteria {
  family: string;
  given: string;
  birthDate: string;
}

export function FindPatient({ initial }: { initial: URLSearchParams }) {
  const { api } = useSession();
  const [form, setForm] = useState<Criteria>({
    family: initial.get('family') ?? '',
    given: initial.get('given') ?? '',
    birthDate: initial.get('birthDate') ?? '',
  });
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<keyof Criteria, string>>>({});
  const [rows, setRows] = useState<Row[] | undefined>();
  const [more, setMore] = useState(false);
  const [searched, setSearched] = useState<Criteria | undefined>();
  const [elapsed, setElapsed] = useState<number | undefined>();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>();
  const { formRef, refused } = useRefusalFocus();

  const run = async (criteria: Criteria) => {
    const errors: Partial<Record<keyof Criteria, string>> = {};
    if (!criteria.family.trim() && !criteria.birthDate.trim()) errors.family = 'Enter the last name, or the date of birth';
    const birthDate = criteria.birthDate.trim() ? parseDate(criteria.birthDate) : undefined;
    if (criteria.birthDate.trim() && !birthDate) errors.birthDate = 'Enter a real date, e.g. 2024-03-05 or 03/05/2024';
    setFieldErrors(errors);
    if (Object.keys(errors).length > 0) {
      // The rows of the last search no longer answer what the form now says; the focus goes to
      // the field to correct (it stayed on Search, and nothing said why no search ran).
      setRows(undefined);
      refused();
      return;
    }
    // The request leaves first; the screen's own updates (busy button) render while it is out.
    const started = performance.now();
    const request = birthDate && criteria.family.trim() ? match(criteria, birthDate) : search(criteria, birthDate);
    setBusy(true);
    setError(undefined);
    try {
      const found = await request;
      setMore(found.length > PAGE);
      setRows(found.slice(0, PAGE));
      setSearched({ ...criteria, birthDate: birthDate ?? '' });
      setElapsed(Math.round(performance.now() - started));
    } catch (err) {
      setError(err);
      setRows(undefined);
    } finally {
      setBusy(false);
    }
  };

  const match = async (criteria: Criteria, birthDate: string): Promise<Row[]> => {
    const resource: Patient = {
      resourceType: 'Patient',
      name: [{ family: criteria.family.trim(), ...(criteria.given.trim() ? { given: [criteria.given.trim()] } : {}) }],
      birthDate,
    };
    const bundle = await api.post<Bundle<Patient>>('Patient/$match', {
      resourceType: 'Parameters',
      parameter: [
        { name: 'resource', resource },
        { name: 'count', valueInteger: PAGE + 1 },
      ],
    });
    return (bundle.entry ?? [])
      .filter((e) => e.resource?.active !== false)
      .map((e) => ({
        patient: e.resource as Patient,
        grade: e.search?.extension?.find((x) => x.url === GRADE_EXTENSION)?.valueCode,
        score: e.search?.score,
      }));
  };

  /** By name (FHIR string search: starts with, accents and case ignored), or by birth date alone. */
  const search = async (criteria: Criteria, birthDate: string | undefined): Promise<Row[]> => {
    const params = new URLSearchParams({ 'active:not': 'false', _count: String(PAGE + 1), _sort: 'family,given' });
    if (criteria.family.trim()) params.set('family', criteria.family.trim());
    if (criteria.given.trim()) params.set('given', criteria.given.trim());
    if (birthDate) params.set('birthdate', birthDate);
    const bundle = await api.get<Bundle<Patient>>(`Patient?${params}`);
    return (bundle.entry ?? []).filter((e) => e.resource).map((e) => ({ patient: e.resource as Patient }));
  };

  useEffect(() => {
    if (initial.get('family') || initial.get('birthDate')) void run(form);
    // Runs once for a search carried in the address (back button, shared link).
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const submit = (event: React.FormEvent) => {
    event.preventDefault();
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(form)) if (value.trim()) params.set(key, value.trim());
    void run(form);
    window.history.replaceState(null, '', `/app/?${params}`);
  };

  const addUrl = () => {
    const params = new URLSearchParams();
    if (searched?.family) params.set('family', searched.family);
    if (searched?.given) params.set('given', searched.given);
    if (searched?.birthDate) params.set('birthDate', searched.birthDate);
    return `/app/patients/new?${params}`;
  };

  return (
    <>
      <PageTitle>Find a patient</PageTitle>
      <form onSubmit={submit} noValidate aria-label="Find a patient" ref={formRef}>
        <Group align="flex-start" wrap="wrap" gap="md">
          <TextInput
            label="Last name"
            description="Or search by date of birth alone"
            autoComplete="off"
            value={form.family}
            error={fieldErrors.family}
            onChange={(e) => setForm({ ...form, family: e.currentTarget.value })}
            w={{ base: '100%', sm: 220 }}
          />
          <TextInput
            label="First name"
            autoComplete="off"
            value={form.given}
            onChange={(e) => setForm({ ...form, given: e.currentTarget.value })}
            w={{ base: '100%', sm: 220 }}
          />
          <TextInput
            label="Date of birth"
            description="YYYY-MM-DD or MM/DD/YYYY"
            autoComplete="off"
            inputMode="numeric"
            value={form.birthDate}
            error={fieldErrors.birthDate}
            onChange={(e) => setForm({ ...form, birthDate: e.currentTarget.value })}
            w={{ base: '100%', sm: 220 }}
          />
          <BusyButton type="submit" mt={{ base: 0, sm: 26 }} busy={busy}>
            Search
          </BusyButton>
        </Group>
      </form>
      <Stack mt="lg" gap="sm">
        <ErrorPanel error={error} title="Search failed" />
        <div role="status" aria-live="polite">
          {rows && (
            <Text size="sm" data-testid="search-summary">
              {rows.length === 0
                ? 'No patient matches these details.'
                : more
                  ? `More than ${rows.length} patients match: the first ${rows.length} are shown. Add the first name or date of birth to find the child.`
                  : `${rows.length} ${rows.length === 1 ? 'patient' : 'patients'} found`}
              {elapsed !== undefined ? ` (${elapsed} ms)` : ''}
            </Text>
          )}
        </div>
        {rows && rows.length > 0 && (
          <TableScroll label="Search results">
            <Table striped highlightOnHover withTableBorder aria-label="Search results">
              <Table.Thead>
                <Table.Tr>
                  <Table.Th scope="col">Name</Table.Th>
                  <Table.Th scope="col">Date of birth</Table.Th>
                  <Table.Th scope="col">Gender</Table.Th>
                  <Table.Th scope="col">Address</Table.Th>
                  <Table.Th scope="col">Match</Table.Th>
                </Table.Tr>
              </Table.Thead>
              <Table.Tbody>
                {rows.map((row) => (
                  <Table.Tr key={row.patient.id}>
                    <Table.Td>
                      <AppLink to={`/app/patients/${row.patient.id}`}>{patientName(row.patient)}</AppLink>
                    </Table.Td>
                    <Table.Td>{showDate(row.patient.birthDate)}</Table.Td>
                    <Table.Td>{genderText(row.patient.gender)}</Table.Td>
                    <Table.Td>{[row.patient.address?.[0]?.city, row.patient.address?.[0]?.state].filter(Boolean).join(', ') || '—'}</Table.Td>
                    <Table.Td>
                      {row.grade ? (
                        <Badge color={GRADE_COLOR[row.grade] ?? BADGE.neutral} variant="filled">
                          {row.grade}
                          {row.score !== undefined ? ` ${Math.round(row.score * 100)}%` : ''}
                        </Badge>
                      ) : (
                        searched?.family ? 'name search' : 'date of birth search'
                      )}
                    </Table.Td>
                  </Table.Tr>
                ))}
              </Table.Tbody>
            </Table>
          </TableScroll>
        )}
        {rows && (
          <Group>
            <Text size="sm">{rows.length === 0 ? 'Not in the registry yet?' : 'None of these?'}</Text>
            <Button variant="outline" onClick={() => navigate(addUrl())}>
              Add patient
            </Button>
          </Group>
        )}
      </Stack>
    </>
  );
}
