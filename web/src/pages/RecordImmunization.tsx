// Record an immunization: vaccine by CVX or NDC (suggestions from the server's code sets), date
// given, lot, expiration, site, route, VIS date, funding. The server's data-quality checks run
// ($validate) while the form is filled in, so warnings show before saving.
import { Alert, Button, Group, List, NativeSelect, SimpleGrid, Text, TextInput } from '@mantine/core';
import { useEffect, useMemo, useState } from 'react';
import { parseDate, today } from '../dates';
import { useKeptForm } from '../drafts';
import { useRefusalFocus } from '../refusal-focus';
import { issueText } from '../errors';
import { ApiError } from '../fhir';
import type { Immunization, OperationOutcome, OperationOutcomeIssue, Patient } from '../fhir-types';
import { navigate, stillOn } from '../router';
import { useSession } from '../session';
import { AppLink, BusyButton, ErrorPanel, mergedInto, PageTitle, patientName, requiredDescription } from '../ui';
import { VaccineInput } from '../VaccineInput';
import { CVX_SYSTEM, loadCvx, lookupNdc, ndcDigits, NDC_SYSTEM, resolveVaccine, suggest, vaccineLabel, type Vaccine } from '../vaccines';

const SITES = [
  ['', 'Not recorded'],
  ['LA', 'Left arm'],
  ['RA', 'Right arm'],
  ['LD', 'Left deltoid'],
  ['RD', 'Right deltoid'],
  ['LT', 'Left thigh'],
  ['RT', 'Right thigh'],
  ['LVL', 'Left vastus lateralis'],
  ['RVL', 'Right vastus lateralis'],
] as const;
const ROUTES = [
  ['', 'Not recorded'],
  ['IM', 'Intramuscular'],
  ['SQ', 'Subcutaneous'],
  ['ID', 'Intradermal'],
  ['PO', 'Oral'],
  ['NASINHLC', 'Nasal'],
] as const;
const FUNDING = [
  ['', 'Not recorded'],
  ['V01', 'Not VFC eligible (private)'],
  ['V02', 'VFC: Medicaid / Medicaid managed care'],
  ['V03', 'VFC: uninsured'],
  ['V04', 'VFC: American Indian / Alaska Native'],
  ['V05', 'VFC: underinsured (FQHC/RHC)'],
] as const;

// The form field an issue's FHIRPath expression names, so a refused save marks that field.
const FIELD_OF_EXPRESSION: Array<[RegExp, keyof Form]> = [
  [/occurrence/i, 'date'],
  [/vaccineCode/i, 'vaccine'],
  [/lotNumber/i, 'lot'],
  [/expirationDate/i, 'expiration'],
  [/education/i, 'vis'],
  [/\.site/i, 'site'],
  [/\.route/i, 'route'],
  [/programEligibility/i, 'funding'],
];

/** The errors of a refused save per form field (the server's own words), from its OperationOutcome. */
function fieldErrorsOf(error: unknown): Partial<Record<keyof Form, string>> {
  const found: Partial<Record<keyof Form, string>> = {};
  if (!(error instanceof ApiError)) return found;
  for (const issue of error.outcome?.issue ?? []) {
    if (issue.severity !== 'error' && issue.severity !== 'fatal') continue;
    const expression = issue.expression?.[0] ?? '';
    const field = FIELD_OF_EXPRESSION.find(([pattern]) => pattern.test(expression))?.[1];
    const text = issue.details?.text ?? issue.diagnostics;
    if (field && text && !found[field]) found[field] = text;
  }
  return found;
}

/** What a save's answer said (rule warnings, notes), carried to the record (history state) and shown there. */
export interface SavedNotes {
  notes: string[];
}

interface Form {
  vaccine: string;
  date: string;
  lot: string;
  expiration: string;
  site: string;
  route: string;
  vis: string;
  funding: string;
}

export function RecordImmunization({ patientId }: { patientId: string }) {
  const { api, info } = useSession();
  const [patient, setPatient] = useState<Patient | undefined>();
  const [cvx, setCvx] = useState<Vaccine[]>([]);
  const [ndcHits, setNdcHits] = useState<Vaccine[]>([]);
  // Kept through a sign-in that ends before Save (src/drafts.ts).
  const [form, setForm, restored] = useKeptForm<Form>(info.user, () => ({ vaccine: '', date: today(), lot: '', expiration: '', site: '', route: '', vis: '', funding: '' }));
  const [fieldErrors, setFieldErrors] = useState<Partial<Record<keyof Form, string>>>({});
  const [checks, setChecks] = useState<OperationOutcomeIssue[]>([]);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const { formRef, errorRef, refused } = useRefusalFocus();

  // The patient could not be read (data sharing No for this facility, unknown, not allowed): no
  // form then, only why — it said "The immunization was not saved" above a form for a record the
  // user may not see, before anything was saved.
  const [patientError, setPatientError] = useState<unknown>();
  useEffect(() => {
    api.get<Patient>(`Patient/${patientId}`).then(setPatient, setPatientError);
    loadCvx(api).then(setCvx, setError);
  }, [api, patientId]);

  useEffect(() => {
    const ndc = ndcDigits(form.vaccine);
    if (!ndc) {
      setNdcHits((hits) => (hits.length ? [] : hits));
      return;
    }
    let cancelled = false;
    lookupNdc(api, ndc).then(
      (hits) => !cancelled && setNdcHits(hits),
      () => !cancelled && setNdcHits([])
    );
    return () => {
      cancelled = true;
    };
  }, [api, form.vaccine]);

  const vaccine = useMemo(() => resolveVaccine(cvx, form.vaccine, ndcHits), [cvx, form.vaccine, ndcHits]);
  const options = useMemo(() => (ndcHits.length ? ndcHits : suggest(cvx, form.vaccine)).map(vaccineLabel), [cvx, form.vaccine, ndcHits]);

  const build = (): Immunization | undefined => {
    const date = parseDate(form.date);
    if (!vaccine || !date) return undefined;
    const expiration = form.expiration.trim() ? parseDate(form.expiration) : undefined;
    const vis = form.vis.trim() ? parseDate(form.vis) : undefined;
    const site = SITES.find(([code]) => code === form.site && code);
    const route = ROUTES.find(([code]) => code === form.route && code);
    const funding = FUNDING.find(([code]) => code === form.funding && code);
    return {
      resourceType: 'Immunization',
      status: 'completed',
      vaccineCode: {
        coding: [
          { system: CVX_SYSTEM, code: vaccine.cvx, display: vaccine.name },
          ...(vaccine.ndc ? [{ system: NDC_SYSTEM, code: vaccine.ndc }] : []),
        ],
        text: vaccine.name,
      },
      patient: { reference: `Patient/${patientId}` },
      occurrenceDateTime: date,
      recorded: new Date().toISOString(),
      primarySource: true,
      ...(form.lot.trim() ? { lotNumber: form.lot.trim() } : {}),
      ...(expiration ? { expirationDate: expiration } : {}),
      ...(site ? { site: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActSite', code: site[0], display: site[1] }] } } : {}),
      ...(route ? { route: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration', code: route[0], display: route[1] }] } } : {}),
      ...(vis ? { education: [{ documentType: `${vaccine.name} VIS`, publicationDate: vis, presentationDate: date }] } : {}),
      ...(funding
        ? { programEligibility: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0064', code: funding[0], display: funding[1] }] }] }
        : {}),
      ...(info.organization ? { performer: [{ function: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0443', code: 'AP' }] }, actor: { reference: info.organization } }] } : {}),
    };
  };

  // The server's data-quality rules, run as the user types (debounced), so warnings come first.
  useEffect(() => {
    const resource = build();
    if (!resource) {
      setChecks([]);
      return;
    }
    let cancelled = false;
    const timer = setTimeout(() => {
      api.post<OperationOutcome>('Immunization/$validate', resource).then(
        (oo) => !cancelled && setChecks((oo.issue ?? []).filter((i) => i.severity !== 'information')),
        () => !cancelled && setChecks([])
      );
    }, 350);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [api, vaccine, form.date, form.lot, form.expiration, form.site, form.route, form.vis, form.funding]);

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const found: Partial<Record<keyof Form, string>> = {};
    if (!vaccine) found.vaccine = form.vaccine.trim() ? 'Choose a vaccine from the suggestions, or type its CVX code or NDC' : 'Enter the vaccine (CVX code, NDC or name)';
    if (!parseDate(form.date)) found.date = 'Enter the date given, e.g. 2024-03-05 or 03/05/2024';
    if (form.expiration.trim() && !parseDate(form.expiration)) found.expiration = 'Enter a real date or leave it empty';
    if (form.vis.trim() && !parseDate(form.vis)) found.vis = 'Enter a real date or leave it empty';
    setFieldErrors(found);
    if (Object.keys(found).length > 0) {
      refused();
      return;
    }
    const resource = build();
    if (!resource) return;
    setBusy(true);
    setError(undefined);
    const from = window.location.pathname;
    try {
      // The answer's OperationOutcome holds the rule warnings the dose was stored with: shown on the
      // record, as the checks while typing may not have come back before Save was pressed.
      const outcome = await api.post<OperationOutcome | undefined>('Immunization', resource, { Prefer: 'return=OperationOutcome' });
      const warnings = (outcome?.issue ?? []).filter((i) => i.severity === 'warning').map(issueText);
      const saved: SavedNotes = { notes: warnings };
      // Stored; a user who went elsewhere meanwhile stays there (the dose is on the record).
      if (stillOn(from)) navigate(`/app/patients/${patientId}?saved=immunization`, false, saved);
    } catch (err) {
      setError(err);
      setFieldErrors(fieldErrorsOf(err));
      refused();
    } finally {
      setBusy(false);
    }
  };

  const set = (key: keyof Form) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => {
    setForm({ ...form, [key]: e.currentTarget.value });
    if (fieldErrors[key]) setFieldErrors({ ...fieldErrors, [key]: undefined });
  };
  const problems = checks.filter((i) => i.severity === 'error' || i.severity === 'fatal');
  const warnings = checks.filter((i) => i.severity === 'warning');

  // A record merged into another takes no dose (the registry refuses it, patient-merged): the
  // form is offered on the record it was merged into.
  const survivor = patient?.active === false ? mergedInto(patient) : undefined;
  if (survivor) {
    return (
      <>
        <PageTitle>Record immunization</PageTitle>
        <Alert color="yellow" title="This record was merged into another" mb="md">
          {patientName(patient as Patient)}&apos;s record is no longer used: doses are recorded on the record it was merged into.{' '}
          <AppLink to={`/app/patients/${survivor}/immunizations/new`}>Record the immunization there</AppLink>.
        </Alert>
      </>
    );
  }

  if (patientError) {
    return (
      <>
        <PageTitle>Record immunization</PageTitle>
        <ErrorPanel error={patientError} title="The record could not be opened" />
        <Button variant="outline" onClick={() => navigate('/app/')}>
          Back to search
        </Button>
      </>
    );
  }

  return (
    <>
      <PageTitle>Record immunization</PageTitle>
      {patient && (
        <Text mb="md">
          For <strong>{patientName(patient)}</strong>, born {patient.birthDate}
        </Text>
      )}
      {restored && (
        <Alert color="blue" title="Your typing was kept" mb="md" variant="light">
          Your sign-in ended before this immunization was saved. What you had typed is back below: check it, then Save.
        </Alert>
      )}
      <ErrorPanel error={error} title="The immunization was not saved" ref={errorRef} />
      <form onSubmit={submit} noValidate aria-label="Record immunization" ref={formRef}>
        <SimpleGrid cols={{ base: 1, sm: 2 }} spacing="md">
          <VaccineInput value={form.vaccine} onChange={(value) => setForm({ ...form, vaccine: value })} options={options} error={fieldErrors.vaccine} />
          <TextInput label="Date given" description={requiredDescription('YYYY-MM-DD or MM/DD/YYYY')} required value={form.date} onChange={set('date')} error={fieldErrors.date} />
          <TextInput label="Lot number" value={form.lot} onChange={set('lot')} error={fieldErrors.lot} />
          <TextInput label="Expiration date" description="YYYY-MM-DD or MM/DD/YYYY" value={form.expiration} onChange={set('expiration')} error={fieldErrors.expiration} />
          <NativeSelect label="Site" value={form.site} onChange={set('site')} data={SITES.map(([value, label]) => ({ value, label }))} error={fieldErrors.site} />
          <NativeSelect label="Route" value={form.route} onChange={set('route')} data={ROUTES.map(([value, label]) => ({ value, label }))} error={fieldErrors.route} />
          <TextInput label="VIS date" description="Edition date of the Vaccine Information Statement given" value={form.vis} onChange={set('vis')} error={fieldErrors.vis} />
          <NativeSelect label="Funding" value={form.funding} onChange={set('funding')} data={FUNDING.map(([value, label]) => ({ value, label }))} error={fieldErrors.funding} />
        </SimpleGrid>
        <div aria-live="polite">
          {vaccine && (
            <Text size="sm" mt="sm">
              Vaccine: CVX {vaccine.cvx} {vaccine.name}
              {vaccine.ndc ? ` (NDC ${vaccine.ndc})` : ''}
            </Text>
          )}
          {(problems.length > 0 || warnings.length > 0) && (
            // role status, not Mantine's default alert: the checks change as the user types, and a
            // warning (no lot number) is advice, not an error to interrupt them with.
            <Alert color={problems.length ? 'red' : 'yellow'} title="Data-quality checks" mt="md" role="status">
              {problems.length > 0 && <Text size="sm">These must be corrected before saving:</Text>}
              <List size="sm">
                {problems.map((i, n) => (
                  <List.Item key={`e${n}`}>{issueText(i)}</List.Item>
                ))}
              </List>
              {warnings.length > 0 && (
                <Text size="sm" mt="xs">
                  Warnings (the dose can still be saved):
                </Text>
              )}
              <List size="sm">
                {warnings.map((i, n) => (
                  <List.Item key={`w${n}`}>{issueText(i)}</List.Item>
                ))}
              </List>
            </Alert>
          )}
        </div>
        <Group mt="lg">
          <BusyButton type="submit" busy={busy}>
            Save
          </BusyButton>
          <Button variant="outline" onClick={() => navigate(`/app/patients/${patientId}`)}>
            Cancel
          </Button>
        </Group>
      </form>
    </>
  );
}
