import { chmod, mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import { run } from '../util/exec';
import { DEFAULT_COMPRESSION, installedSizeKiB, stageTree, summaryOf, validateContents } from './stage';
import { DebContents, DebMaintainerScript, PayloadCompression } from './types';

/** Fields we write ourselves; extraFields may not repeat them. */
const OWN_FIELDS = [
  'Package',
  'Version',
  'Architecture',
  'Maintainer',
  'Installed-Size',
  'Depends',
  'Homepage',
  'Vendor',
  'License',
  'Description',
];

/**
 * The DEBIAN/control text. Vendor and License are not Debian policy fields, but dpkg keeps
 * unknown fields and fpm (the old process) wrote exactly these two, so apt users still see them.
 */
export function debControl(c: DebContents, installedSize: number): string {
  const fields: Array<[string, string]> = [
    ['Package', c.name],
    ['Version', c.version],
    ['Architecture', c.arch],
    ['Maintainer', c.maintainer],
    ['Installed-Size', String(installedSize)],
  ];
  if (c.depends.length > 0) fields.push(['Depends', c.depends.join(', ')]);
  for (const [k, v] of c.extraFields ?? []) {
    if (OWN_FIELDS.some((f) => f.toLowerCase() === k.toLowerCase()))
      throw new UserError(`package ${c.name}: control field ${k} is written by the DEB writer, not an extra field`);
    if (!/^[A-Za-z0-9][A-Za-z0-9-]*$/.test(k)) throw new UserError(`package ${c.name}: invalid control field name ${JSON.stringify(k)}`);
    fields.push([k, v]);
  }
  fields.push(['Homepage', c.homepage], ['Vendor', c.vendor], ['License', c.license]);
  const summary = summaryOf(c.description);
  if (!summary) throw new UserError(`package ${c.name}: empty description`);
  const extended = c.description
    .trim()
    .split('\n')
    .slice(1)
    .map((l) => (l.trim() === '' ? ' .' : ` ${l}`));
  for (const [k, v] of fields) {
    if (/\n/.test(v)) throw new UserError(`package ${c.name}: control field ${k} must be one line`);
  }
  return [...fields.map(([k, v]) => `${k}: ${v}`), `Description: ${summary}`, ...extended].join('\n') + '\n';
}

/** dpkg-deb compression arguments; -Zxz output with several threads is identical for any count > 1. */
export function dpkgCompressionArgs(c: PayloadCompression): string[] {
  const threads = c.threads === 0 ? os.availableParallelism() : c.threads;
  return [`-Z${c.algorithm}`, `-z${c.level}`, `--threads-max=${threads}`];
}

export function debOutputName(c: DebContents): string {
  // Pool file names drop an epoch (we use none, but stay correct).
  return `${c.name}_${c.version.replace(/^\d+:/, '')}_${c.arch}.deb`;
}

/**
 * Builds one DEB into outDir with dpkg-deb and returns its path. Owners are root:root
 * (--root-owner-group), mtimes are sourceDateEpoch, and dpkg-deb takes the ar member times from
 * SOURCE_DATE_EPOCH, so the same contents give byte-identical files.
 */
export async function buildDeb(contents: DebContents, outDir: string, options: { signal?: AbortSignal } = {}): Promise<string> {
  validateContents(contents);
  const work = await mkdtemp(path.join(outDir, `.dpkg-deb-${contents.name}-`));
  try {
    const root = path.join(work, 'root');
    await stageTree(contents, root);
    const size = await installedSizeKiB(root);
    const debian = path.join(root, 'DEBIAN');
    await mkdir(debian, { mode: 0o755 });
    await writeFile(path.join(debian, 'control'), debControl(contents, size), { mode: 0o644 });
    const conffiles = contents.configFiles ?? [];
    if (conffiles.length > 0) await writeFile(path.join(debian, 'conffiles'), conffiles.map((f) => `${f}\n`).join(''), { mode: 0o644 });
    for (const [name, body] of Object.entries(contents.maintainerScripts ?? {}) as Array<[DebMaintainerScript, string]>) {
      const file = path.join(debian, name);
      await writeFile(file, body);
      await chmod(file, 0o755);
    }
    for (const f of ['', 'control', 'conffiles', ...Object.keys(contents.maintainerScripts ?? {})]) {
      if (f === 'conffiles' && conffiles.length === 0) continue;
      await utimes(path.join(debian, f), contents.sourceDateEpoch, contents.sourceDateEpoch);
    }
    const out = path.join(outDir, debOutputName(contents));
    await run(
      'dpkg-deb',
      ['--root-owner-group', ...dpkgCompressionArgs(contents.compression ?? DEFAULT_COMPRESSION), '--build', root, out],
      {
        what: `building ${debOutputName(contents)}`,
        signal: options.signal,
        env: { ...process.env, SOURCE_DATE_EPOCH: String(contents.sourceDateEpoch), LC_ALL: 'C', TZ: 'UTC' },
      },
    );
    return out;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
