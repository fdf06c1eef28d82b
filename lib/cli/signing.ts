import { Command, Option } from 'commander';
import { SigningKeyLabels, SigningKeyOptions } from '../signing/keyring';
import { optionLabel } from './labels';

/** Each signing setting: its option key, flag and environment variable (the old process's KEYS_PATH, the pipelines' KET_GPG_*). */
const SETTINGS = [
  { key: 'keysPath', flag: '--keys-path <dir>', env: 'KEYS_PATH', help: 'folder with private.key and public.key' },
  { key: 'gnupgHome', flag: '--gnupg-home <dir>', env: 'GNUPGHOME', help: 'GnuPG home holding the secret key' },
  {
    key: 'secretId',
    flag: '--key-secret <name-or-arn>',
    env: 'KET_GPG_KEY_SECRET',
    help: "Secrets Manager secret written by 'keys import'",
  },
  { key: 'keyId', flag: '--key-id <id>', env: 'KET_GPG_KEY_ID', help: 'which secret key, when the keyring holds several' },
  { key: 'passphraseFile', flag: '--passphrase-file <file>', env: 'KET_GPG_PASSPHRASE_FILE', help: "file holding the key's passphrase" },
  // A passphrase on the command line shows in `ps`: the flag exists for Option.env() and is hidden.
  { key: 'passphrase', flag: '--passphrase <value>', env: 'KET_GPG_PASSPHRASE', help: "the key's passphrase", hidden: true },
] as const;

/** Adds the signing key options to a command, each also read from its environment variable. */
export function addSigningOptions(command: Command): Command {
  for (const s of SETTINGS) {
    const option = new Option(s.flag, s.help).env(s.env);
    command.addOption('hidden' in s && s.hidden ? option.hideHelp() : option);
  }
  return command;
}

/**
 * The signing options of a parsed command, labelled with what the user typed (the flag, or the
 * variable) so that messages name it; an empty variable counts as unset.
 */
export function signingOptions(command: Command): SigningKeyOptions {
  const values = command.opts<Record<string, string | undefined>>();
  const options: Record<string, string | undefined> = {};
  const labels: Record<string, string> = {};
  for (const s of SETTINGS) {
    // commander stores a value under the flag's camel-cased name (--key-secret → keySecret), which
    // is not always the library's option name (secretId).
    const attribute = new Option(s.flag).attributeName();
    options[s.key] = values[attribute] || undefined;
    labels[s.key] = optionLabel(command, attribute);
  }
  return { ...options, labels: labels as SigningKeyLabels };
}
