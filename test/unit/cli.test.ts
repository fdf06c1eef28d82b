import { Command } from 'commander';
import { addSourceOptions } from '../../lib/cli/build';
import { addLocalOptions } from '../../lib/cli/local';
import { parseHttpUrl, parsePort, parseSecondsAsMs, parseUnixTime } from '../../lib/cli/parsers';
import { addSigningOptions, signingOptions } from '../../lib/cli/signing';

/** Parses ARGS with the environment ENV only (commander reads process.env while parsing). */
function parse(args: string[], env: Record<string, string>, add: (c: Command) => Command): Command {
  const saved = process.env;
  process.env = { PATH: saved.PATH, ...env };
  try {
    const command = add(new Command('t').exitOverride().configureOutput({ writeErr: () => undefined }));
    return command.parse(args, { from: 'user' });
  } finally {
    process.env = saved;
  }
}

describe('CLI option mapping', () => {
  test('the cache folder: --cache-dir, then KET_CACHE_DIR, then .cache/ket-packages/downloads', () => {
    expect(parse(['--cache-dir', '/a'], { KET_CACHE_DIR: '/b' }, addSourceOptions).opts().cacheDir).toBe('/a');
    expect(parse([], { KET_CACHE_DIR: '/b' }, addSourceOptions).opts().cacheDir).toBe('/b');
    expect(parse([], {}, addSourceOptions).opts().cacheDir).toBe('.cache/ket-packages/downloads');
  });

  test('signing settings are labelled with what the user typed', () => {
    const fromFlag = signingOptions(parse(['--keys-path', '/k'], { KEYS_PATH: '/env' }, addSigningOptions));
    expect(fromFlag).toMatchObject({ keysPath: '/k', labels: { keysPath: '--keys-path' } });
    const fromEnv = signingOptions(parse([], { KEYS_PATH: '/env', KET_GPG_PASSPHRASE: 'p' }, addSigningOptions));
    expect(fromEnv).toMatchObject({
      keysPath: '/env',
      passphrase: 'p',
      labels: { keysPath: 'KEYS_PATH', passphrase: 'KET_GPG_PASSPHRASE' },
    });
    const unset = signingOptions(parse([], { KEYS_PATH: '' }, addSigningOptions));
    expect(unset.keysPath).toBeUndefined();
    expect(unset.labels?.secretId).toBe('KET_GPG_KEY_SECRET (or --key-secret)');
  });

  test("the pipelines' KET_GPG_KEY_SECRET (and --key-secret) reach the secret setting, whose flag name differs", () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:ket-packages/gpg-signing-key-AbCdEf';
    expect(signingOptions(parse([], { KET_GPG_KEY_SECRET: arn }, addSigningOptions))).toMatchObject({
      secretId: arn,
      labels: { secretId: 'KET_GPG_KEY_SECRET' },
    });
    expect(signingOptions(parse(['--key-secret', 'other'], { KET_GPG_KEY_SECRET: arn }, addSigningOptions))).toMatchObject({
      secretId: 'other',
      labels: { secretId: '--key-secret' },
    });
  });

  test('local takes the mirrors from the variables build reads, and passes --allow-unpinned', () => {
    const env = { KET_MIRROR: 'http://m.test/', KET_REGISTRY_MIRROR: 'http://127.0.0.1:5000' };
    const fromEnv = parse(['--allow-unpinned'], env, addLocalOptions).opts();
    expect(fromEnv).toMatchObject({ mirror: 'http://m.test/', allowUnpinned: true });
    expect(fromEnv.registryMirror).toBeDefined();
    expect(parse(['--mirror', 'http://flag.test/'], env, addLocalOptions).opts().mirror).toBe('http://flag.test/');
  });

  test('a malformed --mirror is refused by commander, naming the flag', () => {
    expect(() => parse(['--mirror', 'ftp://m/'], {}, addSourceOptions)).toThrow(
      /option '--mirror <url>' argument 'ftp:\/\/m\/' is invalid\. mirror ftp:\/\/m\/: only http and https/,
    );
  });
});

describe('argument parsers', () => {
  test('ports', () => {
    expect(parsePort('4568')).toBe(4568);
    expect(parsePort('0')).toBe(0);
    for (const bad of ['x', '-1', '65536', '1.5', '']) expect(() => parsePort(bad)).toThrow('not a port number');
  });
  test('seconds, in milliseconds', () => {
    expect(parseSecondsAsMs('900')).toBe(900_000);
    for (const bad of ['0', 'x', '1.5', '-3']) expect(() => parseSecondsAsMs(bad)).toThrow('not a positive number of seconds');
  });
  test('Unix times and URLs', () => {
    expect(parseUnixTime('1503273600')).toBe(1503273600);
    expect(() => parseUnixTime('yesterday')).toThrow('not a Unix time');
    expect(parseHttpUrl('https://h/x/')).toBe('https://h/x');
    expect(() => parseHttpUrl('h/x')).toThrow('not a URL');
    expect(() => parseHttpUrl('s3://b/x')).toThrow('only http and https');
  });
});
