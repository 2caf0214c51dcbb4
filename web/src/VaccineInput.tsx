// The Vaccine field: a text field with a list of suggestions (ARIA combobox). Built from Mantine's
// Combobox parts so that only the field carries the label "Vaccine" (the list is "Matching codes").
import { Combobox, TextInput, useCombobox } from '@mantine/core';

export function VaccineInput({ value, onChange, options, error }: { value: string; onChange: (value: string) => void; options: string[]; error?: string }) {
  const combobox = useCombobox({ onDropdownClose: () => combobox.resetSelectedOption() });
  return (
    <Combobox
      store={combobox}
      onOptionSubmit={(option) => {
        onChange(option);
        combobox.closeDropdown();
      }}
    >
      <Combobox.Target>
        <TextInput
          label="Vaccine"
          description="CVX code, NDC or name"
          required
          autoComplete="off"
          value={value}
          error={error}
          onChange={(event) => {
            onChange(event.currentTarget.value);
            combobox.openDropdown();
            combobox.updateSelectedOptionIndex();
          }}
          onClick={() => combobox.openDropdown()}
          onFocus={() => combobox.openDropdown()}
          onBlur={() => combobox.closeDropdown()}
        />
      </Combobox.Target>
      <Combobox.Dropdown hidden={options.length === 0}>
        <Combobox.Options aria-label="Matching codes" mah={320} style={{ overflowY: 'auto' }}>
          {options.map((option) => (
            <Combobox.Option value={option} key={option}>
              {option}
            </Combobox.Option>
          ))}
        </Combobox.Options>
      </Combobox.Dropdown>
    </Combobox>
  );
}
