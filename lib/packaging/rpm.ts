import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { UserError } from '../util/errors';
import { run } from '../util/exec';
import { DEFAULT_COMPRESSION, stageTree, summaryOf, validateContents } from './stage';
import { PayloadCompression, RpmContents, RpmScriptletName } from './types';

/** rpm's %_binary_payload for a compression: w6T0.xzdio = xz level 6, one thread per core. */
export function rpmPayloadMacro(c: PayloadCompression): string {
  if (c.algorithm === 'gzip') return `w${c.level}.gzdio`;
  // T selects liblzma's multi-threaded encoder; T0 means one thread per core. Its output does not
  // depend on the thread count (only single-threaded differs), so builds stay reproducible.
  return c.threads === 1 ? `w${c.level}.xzdio` : `w${c.level}T${c.threads}.xzdio`;
}

/** Macros every build uses, as --define arguments: reproducible, unstripped, no build-id links. */
export function rpmbuildDefines(c: RpmContents, topdir: string, outDir: string): string[] {
  const macros: Array<[string, string]> = [
    ['_topdir', topdir],
    ['_rpmdir', outDir],
    ['_rpmfilename', '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}.rpm'],
    ['_binary_payload', rpmPayloadMacro(c.compression ?? DEFAULT_COMPRESSION)],
    // sha256 file digests: readable by CentOS 7's rpm 4.11 (md5 is the legacy default there).
    ['_binary_filedigest_algorithm', '8'],
    ['_buildhost', 'ket-packages'],
    ['use_source_date_epoch_as_buildtime', '1'],
    ['clamp_mtime_to_source_date_epoch', '1'],
    // Upstream binaries are shipped as published: no strip, no debuginfo, no /usr/lib/.build-id.
    ['__os_install_post', '%{nil}'],
    ['debug_package', '%{nil}'],
    ['_build_id_links', 'none'],
    ['_source_payload', 'w9.gzdio'],
    ['dist', '%{nil}'],
  ];
  return macros.flatMap(([k, v]) => ['--define', `${k} ${v}`]);
}

/**
 * Spec text for already-staged files. %install moves `stageDir` (buildRpm's private copy) into
 * place as the buildroot: a rename on one filesystem, where a copy would write a multi-GB image
 * bundle a second time.
 */
export function rpmSpec(c: RpmContents, stageDir: string): string {
  const esc = (s: string) => s.replace(/%/g, '%%');
  const lines: string[] = [
    `Name: ${c.name}`,
    `Version: ${c.version}`,
    `Release: ${c.release}`,
    `Summary: ${esc(summaryOf(c.description))}`,
    `License: ${esc(c.license)}`,
    `Vendor: ${esc(c.vendor)}`,
    `Packager: ${esc(c.maintainer)}`,
    `URL: ${esc(c.homepage)}`,
    // Dependencies are exactly the manifest's (or the upstream package's), never guessed.
    'AutoReqProv: no',
  ];
  if (c.arch === 'noarch') lines.push('BuildArch: noarch');
  for (const r of c.requires) lines.push(`Requires: ${esc(r)}`);
  for (const [phase, reqs] of Object.entries(c.scriptletRequires ?? {})) {
    for (const r of reqs ?? []) lines.push(`Requires(${phase}): ${esc(r)}`);
  }
  for (const p of c.provides ?? []) lines.push(`Provides: ${esc(p)}`);
  for (const p of c.conflicts ?? []) lines.push(`Conflicts: ${esc(p)}`);
  for (const p of c.obsoletes ?? []) lines.push(`Obsoletes: ${esc(p)}`);
  lines.push('', '%description', esc(c.description.trim()), '');
  lines.push('%install', `rmdir "%{buildroot}" && mv ${shellQuote(stageDir)} "%{buildroot}"`, '');
  const order: RpmScriptletName[] = ['pretrans', 'pre', 'post', 'preun', 'postun', 'posttrans'];
  for (const name of order) {
    const s = c.scriptlets?.[name];
    if (!s) continue;
    const interp = s.interpreter && s.interpreter !== '/bin/sh' ? ` -p ${s.interpreter}` : '';
    lines.push(`%${name}${interp}`, esc(s.body.replace(/\s+$/, '')), '');
  }
  const config = new Set(c.configFiles ?? []);
  lines.push('%files', '%defattr(-,root,root,-)');
  for (const d of c.directories ?? []) lines.push(`%dir %attr(${octal(d.mode)},root,root) "${d.path}"`);
  for (const f of c.files) {
    lines.push(`${config.has(f.path) ? '%config(noreplace) ' : ''}%attr(${octal(f.mode)},root,root) "${f.path}"`);
  }
  for (const s of c.symlinks ?? []) lines.push(`"${s.path}"`);
  lines.push('');
  return lines.join('\n');
}

function octal(mode: number): string {
  return mode.toString(8).padStart(4, '0');
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/** The file name rpmbuild writes for these contents. */
export function rpmOutputName(c: RpmContents): string {
  return `${c.name}-${c.version}-${c.release}.${c.arch}.rpm`;
}

/**
 * Builds one RPM into outDir with rpmbuild and returns its path. Unsigned: signRpms signs all
 * RPMs of a build in one rpmsign call.
 */
export async function buildRpm(contents: RpmContents, outDir: string, options: { signal?: AbortSignal } = {}): Promise<string> {
  validateContents(contents);
  const work = await mkdtemp(path.join(outDir, `.rpmbuild-${contents.name}-`));
  try {
    const stage = path.join(work, 'stage');
    await stageTree(contents, stage);
    const specFile = path.join(work, `${contents.name}.spec`);
    await writeFile(specFile, rpmSpec(contents, stage));
    const args = ['-bb', '--quiet', ...rpmbuildDefines(contents, path.join(work, 'top'), outDir)];
    if (contents.arch !== 'noarch') args.push('--target', contents.arch);
    args.push(specFile);
    await run('rpmbuild', args, {
      what: `building ${rpmOutputName(contents)}`,
      signal: options.signal,
      env: { ...process.env, SOURCE_DATE_EPOCH: String(contents.sourceDateEpoch), LC_ALL: 'C', TZ: 'UTC' },
    });
    return path.join(outDir, rpmOutputName(contents));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`building ${rpmOutputName(contents)}: ${(e as Error).message}`);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}
