// The Vaccine field: CVX code, NDC or name, with suggestions (the list is "Matching codes").
import { SuggestInput } from './SuggestInput';

export function VaccineInput({ value, onChange, options, error }: { value: string; onChange: (value: string) => void; options: string[]; error?: string }) {
  return <SuggestInput label="Vaccine" description="CVX code, NDC or name" listLabel="Matching codes" value={value} onChange={onChange} options={options} error={error} />;
}
