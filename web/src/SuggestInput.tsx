// A coded field: a text field with a list of suggestions (ARIA combobox). Built from Mantine's
// Combobox parts so that only the field carries its label (the list is named apart, e.g. "Matching
// codes"). The Vaccine and Condition fields are this. withExpandedAttribute gives the field its
// role="combobox" and aria-expanded: without them the field was a plain text box to a screen
// reader (nothing said a list had opened, nor which suggestion the arrow keys reached), and axe
// took the open list for a scrollable region no keyboard could reach (scrollable-region-focusable).
import { Combobox, TextInput, useCombobox } from '@mantine/core';
import { requiredDescription } from './ui';

export interface SuggestInputProps {
  label: string;
  description: string;
  /** The suggestion list's accessible name. */
  listLabel: string;
  value: string;
  onChange: (value: string) => void;
  options: string[];
  error?: string;
}

export function SuggestInput({ label, description, listLabel, value, onChange, options, error }: SuggestInputProps) {
  const combobox = useCombobox({ onDropdownClose: () => combobox.resetSelectedOption() });
  return (
    <Combobox
      store={combobox}
      onOptionSubmit={(option) => {
        onChange(option);
        combobox.closeDropdown();
      }}
    >
      <Combobox.Target withExpandedAttribute>
        <TextInput
          label={label}
          description={requiredDescription(description)}
          required
          autoComplete="off"
          aria-autocomplete="list"
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
        <Combobox.Options aria-label={listLabel} mah={320} style={{ overflowY: 'auto' }}>
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
