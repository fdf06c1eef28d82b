import { parseSecretKeys } from '../../lib/signing/keyring';
import { decodeSigningSecret, encodeSigningSecret, PRIVATE_KEY_HEADER } from '../../lib/signing/secret';

// Not a key: only the armor header the format check looks for.
const KEY = `${PRIVATE_KEY_HEADER}\n\nabc\n`;

describe('signing secret format', () => {
  test('round-trips with and without passphrase', () => {
    expect(decodeSigningSecret(encodeSigningSecret({ privateKey: KEY }), 's')).toEqual({ privateKey: KEY, passphrase: undefined });
    expect(decodeSigningSecret(encodeSigningSecret({ privateKey: KEY, passphrase: 'p' }), 's')).toEqual({
      privateKey: KEY,
      passphrase: 'p',
    });
  });
  test('names the secret and the field when malformed', () => {
    expect(() => decodeSigningSecret('not json', 'ket/gpg')).toThrow(/secret ket\/gpg: not JSON/);
    expect(() => decodeSigningSecret('{"privateKey":"x"}', 'ket/gpg')).toThrow(
      /secret ket\/gpg: field "privateKey" must hold an ASCII-armored PGP private key/,
    );
    expect(() => decodeSigningSecret(JSON.stringify({ privateKey: KEY, passphrase: 3 }), 'ket/gpg')).toThrow(
      /field "passphrase" must be a string/,
    );
  });
});

describe('parseSecretKeys', () => {
  test('reads primary fingerprints and uids, not subkeys', () => {
    const colons = [
      'sec:u:2048:1:AAAABBBBCCCCDDDD:1700000000:::u:::scESC:::+:::23::0:',
      'fpr:::::::::0123456789ABCDEF0123AAAABBBBCCCCDDDD:',
      'grp:::::::::X:',
      'uid:u::::1700000000::H::KET Release <release@example.com>::::::::::0:',
      'ssb:u:2048:1:1111222233334444:1700000000::::::e:::+:::23:',
      'fpr:::::::::FFFF1111222233334444:',
    ].join('\n');
    expect(parseSecretKeys(colons)).toEqual([
      { fingerprint: '0123456789ABCDEF0123AAAABBBBCCCCDDDD', keyId: 'AAAABBBBCCCCDDDD', uid: 'KET Release <release@example.com>' },
    ]);
  });
});
