// Add a patient not found by the search. The server may recognise the person (certain match) and
// answer with the existing record: then that record opens, and the user is told so.
import { Alert, Button, Group, NativeSelect, SimpleGrid, TextInput } from '@mantine/core';
import { useState } from 'react';
import { parseDate, today } from '../dates';
import { useKeptForm } from '../drafts';
import { useRefusalFocus } from '../refusal-focus';
import { issueText } from '../errors';
import { ApiError } from '../fhir';
import type { Patient } from '../fhir-types';
import { navigate, stillOn } from '../router';
import { useSession } from '../session';
import { BusyButton, ErrorPanel, PageTitle, requiredDescription } from '../ui';
import type { SavedNotes } from './RecordImmunization';

// The form field an issue's FHIRPath expression names, so a refused save marks that field.
const FIELD_OF_EXPRESSION: Array<[RegExp, string]> = [
  [/birthDate/i, 'birthDate'],
  [/given/i, 'given'],
  [/family|\.name\b/i, 'family'],
  [/gender/i, 'gender'],
  [/telecom/i, 'phone'],
  [/address/i, 'line'],
];

/** The errors of a refused save per form field (the registry's own words). */
function fieldErrorsOf(error: unknown): Record<string, string> {
  const found: Record<string, string> = {};
  if (!(error instanceof ApiError)) return found;
  for (const issue of error.outcome?.issue ?? []) {
    if (issue.severity !== 'error' && issue.severity !== 'fatal') continue;
    const field = FIELD_OF_EXPRESSION.find(([pattern]) => pattern.test(issue.expression?.[0] ?? ''))?.[1];
    const text = issue.details?.text ?? issue.diagnostics;
    if (field && text && !found[field]) found[field] = text;
  }
  return found;
}

export function AddPatient({ initial }: { initial: URLSearchParams }) {
  const { api, info } = useSession();
  // Kept through a sign-in that ends before Save (src/drafts.ts).
  const [form, setForm, restored] = useKeptForm(info.user, () => ({
    family: initial.get('family') ?? '',
    given: initial.get('given') ?? '',
    birthDate: initial.get('birthDate') ?? '',
    gender: '',
    phone: '',
    line: '',
    city: '',
    state: '',
    postalCode: '',
  }));
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const set = (key: keyof typeof form) => (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => {
    setForm({ ...form, [key]: e.currentTarget.value });
    if (errors[key]) setErrors({ ...errors, [key]: '' });
  };
  const { formRef, errorRef, refused } = useRefusalFocus();

  const submit = async (event: React.FormEvent) => {
    event.preventDefault();
    const found: Record<string, string> = {};
    if (!form.family.trim()) found.family = 'Enter the last name';
    if (!form.given.trim()) found.given = 'Enter the first name';
    const birthDate = parseDate(form.birthDate);
    if (!birthDate) found.birthDate = 'Enter the date of birth, e.g. 2024-03-05 or 03/05/2024';
    else if (birthDate > today()) found.birthDate = 'The date of birth cannot be in the future';
    setErrors(found);
    if (Object.keys(found).length > 0) {
      refused();
      return;
    }
    const patient: Patient = {
      resourceType: 'Patient',
      active: true,
      name: [{ use: 'official', family: form.family.trim(), given: form.given.trim().split(/\s+/) }],
      birthDate,
      ...(form.gender ? { gender: form.gender as Patient['gender'] } : {}),
      ...(form.phone.trim() ? { telecom: [{ system: 'phone', value: form.phone.trim(), use: 'home' }] } : {}),
      // Any part of the address keeps it (a State and ZIP code alone were dropped without a word).
      ...(form.line.trim() || form.city.trim() || form.state.trim() || form.postalCode.trim()
        ? {
            address: [
              {
                ...(form.line.trim() ? { line: [form.line.trim()] } : {}),
                ...(form.city.trim() ? { city: form.city.trim() } : {}),
                ...(form.state.trim() ? { state: form.state.trim() } : {}),
                ...(form.postalCode.trim() ? { postalCode: form.postalCode.trim() } : {}),
              },
            ],
          }
        : {}),
      ...(info.organization ? { managingOrganization: { reference: info.organization } } : {}),
    };
    setBusy(true);
    setError(undefined);
    const from = window.location.pathname;
    try {
      // The answer's OperationOutcome: the rule warnings and notes (a test-like or newborn
      // placeholder name, the child already registered) are shown on the record.
      const { id, outcome } = await api.create('Patient', patient);
      const notes: SavedNotes = { notes: (outcome?.issue ?? []).filter((i) => i.severity === 'warning' || i.severity === 'information').map(issueText) };
      // Stored; a user who went elsewhere meanwhile stays there.
      if (!stillOn(from)) return;
      if (id) navigate(`/app/patients/${id}?saved=patient`, false, notes);
      else setError(new Error('The registry saved the patient but did not say under which record. Search for the patient again.'));
    } catch (err) {
      setError(err);
      setErrors(fieldErrorsOf(err));
      refused();
    } finally {
      setBusy(false);
    }
  };

  return (
    <>
      <PageTitle>Add patient</PageTitle>
      {restored && (
        <Alert color="blue" title="Your typing was kept" mb="md" variant="light">
          Your sign-in ended before this patient was saved. What you had typed is back below: check it, then Save.
        </Alert>
      )}
      <ErrorPanel error={error} title="The patient was not saved" ref={errorRef} />
      <form onSubmit={submit} noValidate aria-label="Add patient" ref={formRef}>
        <SimpleGrid cols={{ base: 1, sm: 2, md: 3 }} spacing="md">
          <TextInput label="Last name" description={requiredDescription()} required value={form.family} onChange={set('family')} error={errors.family} />
          <TextInput label="First name" description={requiredDescription()} required value={form.given} onChange={set('given')} error={errors.given} />
          <TextInput label="Date of birth" description={requiredDescription('YYYY-MM-DD or MM/DD/YYYY')} required value={form.birthDate} onChange={set('birthDate')} error={errors.birthDate} />
          <NativeSelect
            label="Gender"
            value={form.gender}
            onChange={set('gender')}
            error={errors.gender}
            data={[
              { value: '', label: 'Not given' },
              { value: 'female', label: 'Female' },
              { value: 'male', label: 'Male' },
              { value: 'other', label: 'Other' },
              { value: 'unknown', label: 'Unknown' },
            ]}
          />
          <TextInput label="Phone" type="tel" value={form.phone} onChange={set('phone')} error={errors.phone} />
          <TextInput label="Street address" value={form.line} onChange={set('line')} error={errors.line} />
          <TextInput label="City" value={form.city} onChange={set('city')} />
          <TextInput label="State" value={form.state} onChange={set('state')} />
          <TextInput label="ZIP code" value={form.postalCode} onChange={set('postalCode')} />
        </SimpleGrid>
        <Group mt="lg">
          <BusyButton type="submit" busy={busy}>
            Save
          </BusyButton>
          <Button variant="outline" onClick={() => window.history.back()}>
            Cancel
          </Button>
        </Group>
      </form>
    </>
  );
}
