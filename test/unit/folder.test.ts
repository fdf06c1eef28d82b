import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureFolder } from '../../lib/util/folder';
import { UserError } from '../../lib/util/errors';

describe('ensureFolder', () => {
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(path.join(os.tmpdir(), 'ket-folder-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  it('creates every missing level and returns the absolute path', async () => {
    const dir = path.join(tmp, 'a', 'b', 'c');
    expect(await ensureFolder(dir, 'output folder')).toBe(dir);
    expect(statSync(dir).isDirectory()).toBe(true);
    expect(await ensureFolder(dir, 'output folder')).toBe(dir); // existing: fine
  });

  it('refuses a file, naming the value', async () => {
    const file = path.join(tmp, 'somefile');
    writeFileSync(file, 'x');
    await expect(ensureFolder(file, 'output folder')).rejects.toThrow(new UserError(`output folder ${file}: exists and is not a folder`));
    await expect(ensureFolder(path.join(file, 'sub'), 'download cache folder')).rejects.toThrow(
      new UserError(`download cache folder ${path.join(file, 'sub')}: ${file} is not a folder`),
    );
  });

  it('fails at once under /proc instead of looping (recursive mkdir spins there)', async () => {
    await expect(ensureFolder('/proc/nope/out', 'output folder')).rejects.toThrow(
      /^output folder \/proc\/nope\/out: cannot create \/proc\/nope/,
    );
  });
});
