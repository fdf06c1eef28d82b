import { Command } from 'commander';

/**
 * What the user typed for an option of a parsed command, for the library's messages (which name
 * fields otherwise): the flag when the value came from the command line (`--state-url`), the
 * environment variable when it came from there (`KET_STATE_URL`), and both when it came from
 * neither (`KET_STATE_URL (or --state-url)`, e.g. an unset optional setting).
 *
 * @param attribute the option's value name in commander (`--state-url` → `stateUrl`)
 * @throws Error when the command has no such option (a programming error)
 */
export function optionLabel(command: Command, attribute: string): string {
  const option = command.options.find((o) => o.attributeName() === attribute);
  if (!option?.long) throw new Error(`${command.name()} has no option for '${attribute}'`);
  const source = command.getOptionValueSource(attribute);
  if (source === 'cli' || !option.envVar) return option.long;
  return source === 'env' ? option.envVar : `${option.envVar} (or ${option.long})`;
}

/** optionLabel for each of `attributes`, by attribute: `{ stateUrl: 'KET_STATE_URL', … }`. */
export function optionLabels<K extends string>(command: Command, attributes: readonly K[]): Record<K, string> {
  return Object.fromEntries(attributes.map((a) => [a, optionLabel(command, a)])) as Record<K, string>;
}
