import { mkdir, mkdtemp, stat, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { mapConcurrent } from '../util/concurrency';
import { run, ToolError } from '../util/exec';
import { DEB_ARCHES, debFileName, RPM_ARCHES, rpmPackageKey } from './layout';
import { PublishedPackage, rpmEvr } from './metadata';
import { sha256File } from './package-file';
import { compareCodeUnits } from '../util/compare';

/**
 * The input rules: every package file of a build is read and checked before anything is written
 * to either repository, and every refusal names the file and the rule.
 */

/** A package file of the build, identified like a published one. */
export interface BuildPackage extends PublishedPackage {
  readonly format: 'rpm' | 'deb';
  /** Path on local disk. */
  readonly file: string;
  /** RPM: the EVR's parts; DEB: epoch and version without it. */
  readonly epoch: string;
  readonly upstream: string;
  readonly release: string;
}

/** A refused input: the file and the rule it breaks. */
export interface InputProblem {
  readonly file: string;
  readonly rule: string;
}

export function formatProblems(problems: readonly InputProblem[]): string[] {
  return problems.map((p) => `${path.basename(p.file)}: ${p.rule}`);
}

/** S3: object keys are at most 1,024 bytes of UTF-8. */
export const S3_MAX_KEY_BYTES = 1024;
/** File names on the disks aptly, apt and dnf keep packages on (ext4, xfs): 255 bytes. */
export const MAX_FILE_NAME_BYTES = 255;
/** S3: one object is at most 5 TiB. */
export const S3_MAX_OBJECT_BYTES = 5 * 1024 ** 4;

// rpm: a name is any printable run without whitespace; dnf and createrepo_c handle these.
const RPM_NAME = /^[A-Za-z0-9_+][A-Za-z0-9._+-]*$/;
// rpm: version and release may not contain '-' (it separates them); ~ and ^ sort specially (rpm ≥ 4.10 / 4.15).
const RPM_VERSION = /^[A-Za-z0-9._+~]+$/;
// Debian policy 5.6.7: lowercase letters, digits, + - . ; at least two characters, starting alphanumeric.
const DEB_NAME = /^[a-z0-9][a-z0-9+.-]+$/;
// Debian policy 5.6.12: [epoch:]upstream[-revision]; upstream starts with a digit.
const DEB_UPSTREAM = /^[0-9][A-Za-z0-9.+~-]*$/;
const DEB_REVISION = /^[A-Za-z0-9.+~]+$/;

/** Rules of Debian policy 5.6.12 for a Version field; undefined when it is valid. */
export function debVersionProblem(version: string): string | undefined {
  const m = /^(?:(\d+):)?(.*)$/.exec(version)!;
  const rest = m[2];
  const dash = rest.lastIndexOf('-');
  const upstream = dash >= 0 ? rest.slice(0, dash) : rest;
  const revision = dash >= 0 ? rest.slice(dash + 1) : undefined;
  if (/^[^0-9]*:/.test(version) && !m[1]) return `Version '${version}': an epoch is a number (Debian policy 5.6.12)`;
  if (!DEB_UPSTREAM.test(upstream))
    return `Version '${version}': the upstream version must start with a digit and hold only A-Za-z0-9.+~- (Debian policy 5.6.12)`;
  if (revision !== undefined && !DEB_REVISION.test(revision))
    return `Version '${version}': the revision holds only A-Za-z0-9.+~ (Debian policy 5.6.12)`;
  return undefined;
}

/** Rules every package must meet to be served by its repository (pure: the fields are read already). */
export function packageRules(p: Omit<BuildPackage, 'sha256'>, size: number): string[] {
  const rules: string[] = [];
  if (p.format === 'rpm') {
    if (!RPM_NAME.test(p.name)) rules.push(`name '${p.name}' is not a valid RPM name (letters, digits, . _ + -; not starting with . or -)`);
    if (!/^\d*$/.test(p.epoch)) rules.push(`epoch '${p.epoch}' is not a number`);
    if (!RPM_VERSION.test(p.upstream)) rules.push(`version '${p.upstream}' is not a valid RPM version (letters, digits, . _ + ~; no '-')`);
    if (!RPM_VERSION.test(p.release)) rules.push(`release '${p.release}' is not a valid RPM release (letters, digits, . _ + ~; no '-')`);
    if (!RPM_ARCHES.includes(p.arch)) rules.push(`architecture '${p.arch}' is not served by the RPM repository (${RPM_ARCHES.join(', ')})`);
  } else {
    if (!DEB_NAME.test(p.name))
      rules.push(`Package '${p.name}' is not a valid Debian package name (lowercase letters, digits, + - .; Debian policy 5.6.7)`);
    const v = debVersionProblem(p.version);
    if (v) rules.push(v);
    if (!DEB_ARCHES.includes(p.arch)) rules.push(`Architecture '${p.arch}' is not served by the DEB repository (${DEB_ARCHES.join(', ')})`);
  }
  const fileName = path.posix.basename(p.location);
  if (p.format === 'deb' && p.name && p.version && fileName !== debFileName(p))
    rules.push(`its file name is not Debian's NAME_VERSION_ARCH.deb without epoch (${debFileName(p)}), which aptly keeps in the pool`);
  if (Buffer.byteLength(fileName) > MAX_FILE_NAME_BYTES)
    rules.push(`its repository file name ${fileName} is longer than ${MAX_FILE_NAME_BYTES} bytes (what aptly, apt and dnf can store)`);
  if (Buffer.byteLength(p.location) > S3_MAX_KEY_BYTES) rules.push(`its object key is longer than S3's ${S3_MAX_KEY_BYTES} bytes`);
  if (size > S3_MAX_OBJECT_BYTES) rules.push(`it is larger than S3's 5 TiB object limit`);
  if (size === 0) rules.push('it is empty');
  return rules;
}

const RPM_QUERY = '%{NAME}\\t%{EPOCHNUM}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}';

/** Reads an RPM's header (without checking its signature: that is checkRpmSignatures' job). */
async function readRpm(file: string): Promise<Omit<BuildPackage, 'sha256'>> {
  const { stdout } = await run('rpm', ['-qp', '--nosignature', '--nodigest', '--qf', RPM_QUERY, file], {
    what: `reading ${path.basename(file)}`,
  });
  return rpmFromQuery(stdout, file);
}

/**
 * Every RPM header in one rpm run (its start costs more than the queries); undefined when rpm
 * fails for any file, so that each is read alone and its problem named.
 */
async function readRpmsAtOnce(files: readonly string[]): Promise<Map<string, Omit<BuildPackage, 'sha256'>> | undefined> {
  if (files.length < 2) return undefined;
  const out = await run('rpm', ['-qp', '--nosignature', '--nodigest', '--qf', `${RPM_QUERY}\\n`, ...files], {
    what: 'reading the RPMs',
  }).catch(() => undefined);
  const lines = out?.stdout.split('\n').slice(0, -1);
  if (!lines || lines.length !== files.length) return undefined;
  return new Map(files.map((f, i) => [f, rpmFromQuery(lines[i], f)]));
}

function rpmFromQuery(line: string, file: string): Omit<BuildPackage, 'sha256'> {
  const [name, epoch, version, release, arch, sourceRpm] = line.split('\t');
  // A source RPM says (none) here; it has no place in a binary repository.
  const binaryArch = sourceRpm === '(none)' ? 'src' : arch;
  const id = { name, version, release, arch: binaryArch };
  return {
    format: 'rpm',
    name,
    epoch: epoch === '0' ? '' : epoch,
    upstream: version,
    release,
    arch: binaryArch,
    version: rpmEvr(epoch, version, release),
    location: rpmPackageKey(id),
    file,
  };
}

const DEB_SHOW_FORMAT = '${Package}\\t${Version}\\t${Architecture}\\n';

async function readDeb(file: string): Promise<Omit<BuildPackage, 'sha256'>> {
  const { stdout } = await run('dpkg-deb', ['--show', `--showformat=${DEB_SHOW_FORMAT}`, file], {
    what: `reading ${path.basename(file)}`,
  });
  return debFromShow(stdout.replace(/\n$/, ''), file);
}

/**
 * Every DEB's control fields from one process: dpkg-deb takes one archive per run, so one shell
 * runs it for each file in turn (a process start from this one costs its JavaScript thread a few
 * ms while it forks; the shell's are cheap). Undefined when dpkg-deb fails for any file, so that
 * each is read alone and its problem named.
 */
async function readDebsAtOnce(files: readonly string[]): Promise<Map<string, Omit<BuildPackage, 'sha256'>> | undefined> {
  if (files.length < 2) return undefined;
  const script = 'format=$1; shift; for f do dpkg-deb --show --showformat="$format" -- "$f" || exit 1; done';
  const out = await run('sh', ['-c', script, 'sh', DEB_SHOW_FORMAT, ...files], { what: 'reading the DEBs' }).catch(() => undefined);
  const lines = out?.stdout.split('\n').slice(0, -1);
  if (!lines || lines.length !== files.length) return undefined;
  return new Map(files.map((f, i) => [f, debFromShow(lines[i], f)]));
}

function debFromShow(line: string, file: string): Omit<BuildPackage, 'sha256'> {
  const [name, version, arch] = line.split('\t');
  const m = /^(?:(\d+):)?(.*)$/.exec(version ?? '')!;
  // aptly's pool: pool/main/<l or libl>/<source>/<file>, the file keeping the name it was added
  // under; the source defaults to the package name. The file name must be Debian's (no epoch).
  const prefix = name?.startsWith('lib') ? name.slice(0, 4) : (name ?? '').slice(0, 1);
  return {
    format: 'deb',
    name: name ?? '',
    epoch: m[1] ?? '',
    upstream: m[2],
    release: '',
    arch: arch ?? '',
    version: version ?? '',
    location: `pool/main/${prefix}/${name}/${path.basename(file)}`,
    file,
  };
}

/**
 * Reads every package file of a build and checks it against the input rules. Files that cannot be
 * read (not a package, control fields missing) are problems too. Never throws for a bad file.
 */
export async function readBuildPackages(
  files: readonly string[],
  format: 'rpm' | 'deb',
): Promise<{ packages: BuildPackage[]; problems: InputProblem[] }> {
  const problems: InputProblem[] = [];
  const packages: BuildPackage[] = [];
  const read = format === 'rpm' ? await readRpmsAtOnce(files) : await readDebsAtOnce(files);
  await mapConcurrent(files, 4, async (file) => {
    let p: Omit<BuildPackage, 'sha256'>;
    try {
      p = read?.get(file) ?? (format === 'rpm' ? await readRpm(file) : await readDeb(file));
    } catch (e) {
      problems.push({
        file,
        rule: `cannot read its ${format === 'rpm' ? 'RPM header' : 'control fields (Package, Version, Architecture)'}: ${(e instanceof ToolError ? e.stderrTail || e.message : (e as Error).message).split('\n').slice(-1)[0]}`,
      });
      return;
    }
    if (!p.name || !p.version || !p.arch) {
      problems.push({
        file,
        rule: `its ${format === 'rpm' ? 'header' : 'control file'} lacks ${!p.name ? 'the name' : !p.version ? 'the version' : 'the architecture'}`,
      });
      return;
    }
    const { size } = await stat(file);
    const rules = packageRules(p, size);
    for (const rule of rules) problems.push({ file, rule });
    if (rules.length === 0) packages.push({ ...p, sha256: await sha256File(file) });
  });
  packages.sort((a, b) => compareCodeUnits(a.file, b.file));
  problems.sort((a, b) => compareCodeUnits(a.file, b.file));
  // Two files of one build that the repository would store under one name.
  const byLocation = new Map<string, BuildPackage[]>();
  for (const p of packages) byLocation.set(p.location, [...(byLocation.get(p.location) ?? []), p]);
  for (const [location, group] of byLocation) {
    if (group.length < 2) continue;
    const sameVersion = group.every((g) => g.version === group[0].version);
    problems.push({
      file: group[0].file,
      rule: sameVersion
        ? `${group.map((g) => path.basename(g.file)).join(' and ')} are the same package ${group[0].name} ${group[0].version} (${group[0].arch}) twice`
        : `${group.map((g) => `${path.basename(g.file)} (${g.version})`).join(' and ')} would both be stored as ${path.posix.basename(location)}: ${format === 'rpm' ? 'RPM' : 'Debian'} file names carry no epoch; raise the version or ${format === 'rpm' ? 'release' : 'revision'} instead`,
    });
  }
  return { packages, problems };
}

/**
 * Packages of a build already published under the same file name with another version: only
 * possible when the versions differ by epoch alone, which file names drop. (Same version, other
 * bytes, is a conflict, reported by classifyPackages.)
 */
export function fileNameCollisions(local: readonly BuildPackage[], published: readonly PublishedPackage[]): InputProblem[] {
  const byFileName = new Map(published.map((p) => [path.posix.basename(p.location), p]));
  const out: InputProblem[] = [];
  for (const p of local) {
    const old = byFileName.get(path.posix.basename(p.location));
    if (!old || old.version === p.version || old.name !== p.name) continue;
    out.push({
      file: p.file,
      rule: `${p.name} ${p.version} would be stored as ${path.posix.basename(p.location)}, which already holds the published ${old.name} ${old.version}: ${p.format === 'rpm' ? 'RPM' : 'Debian'} file names carry no epoch, so the two cannot both be served; raise the version or ${p.format === 'rpm' ? 'release' : 'revision'} instead of the epoch`,
    });
  }
  return out;
}

/** What a release must contain: each package name at its exact RPM EVR and DEB version. */
export interface ReleaseContents {
  readonly rpm: ReadonlyArray<{ readonly name: string; readonly version: string }>;
  readonly deb: ReadonlyArray<{ readonly name: string; readonly version: string }>;
}

/**
 * Packages of the build the release does not name (unknown name, or a named package at another
 * version). A repository never deletes, so a stray published once is served forever.
 */
export function strayPackages(local: readonly BuildPackage[], release: ReleaseContents): InputProblem[] {
  const out: InputProblem[] = [];
  for (const p of local) {
    const wanted = release[p.format].filter((w) => w.name === p.name);
    if (wanted.some((w) => w.version === p.version)) continue;
    out.push({
      file: p.file,
      rule: wanted.length
        ? `${p.name} ${p.version} is not the version the release manifest names (${wanted.map((w) => w.version).join(', ')})`
        : `${p.name} is not a package of the release manifest`,
    });
  }
  return out;
}

/**
 * Checks that every RPM carries a valid signature by one of `publicKeys` (armored, one key per
 * block), with `rpmkeys --checksig` against a throwaway rpm database holding only those keys.
 * An unsigned RPM passes rpmkeys' digest check, so a good signature line is required, and its
 * algorithm must be one CentOS 7's rpm 4.11 verifies (RSA with SHA-256 or stronger).
 */
export async function checkRpmSignatures(
  files: readonly string[],
  publicKeys: readonly string[],
  scratch: string,
): Promise<InputProblem[]> {
  if (files.length === 0) return [];
  await mkdir(scratch, { recursive: true });
  const dir = await mkdtemp(path.join(scratch, 'rpmdb-'));
  const dbpath = path.join(dir, 'db');
  await mkdir(dbpath);
  for (const [i, key] of publicKeys.entries()) {
    const keyFile = path.join(dir, `key-${i}.asc`);
    await writeFile(keyFile, key);
    await run('rpmkeys', ['--dbpath', dbpath, '--import', keyFile], { what: 'importing the repository key into a throwaway rpm database' });
  }
  const problems: InputProblem[] = [];
  const judge = (file: string, out: string) => {
    const sigs = out.split('\n').filter((l) => /Signature, key ID [0-9a-f]+: OK/i.test(l));
    if (sigs.length === 0)
      problems.push({ file, rule: "it is not signed (rpmsign --addsign with the repository's key; dnf's gpgcheck=1 refuses it)" });
    else if (!sigs.some((l) => /RSA\/SHA(256|384|512)/.test(l)))
      problems.push({
        file,
        rule: `its signature is not RSA with SHA-256 or stronger, which CentOS 7's rpm 4.11 needs: ${sigs[0].trim()}`,
      });
  };
  // All files in one rpmkeys run (one process start instead of one per file); it prints a
  // "FILE:" line and that file's verdicts under it. Any failure, or output we cannot attribute to
  // a file, falls back to one run per file, whose errors name the reason for that file.
  const all = await run('rpmkeys', ['--dbpath', dbpath, '--define', '__gpg /usr/bin/gpg', '--checksig', '-v', ...files], {
    what: 'rpmkeys --checksig',
  }).catch(() => undefined);
  const sections = all ? checksigSections(all.stdout, files) : undefined;
  if (sections) {
    for (const file of files) judge(file, sections.get(file)!);
    return problems.sort((a, b) => compareCodeUnits(a.file, b.file));
  }
  await mapConcurrent(files, 4, async (file) => {
    let out: string;
    try {
      out = (
        await run('rpmkeys', ['--dbpath', dbpath, '--define', '__gpg /usr/bin/gpg', '--checksig', '-v', file], {
          what: 'rpmkeys --checksig',
        })
      ).stdout;
    } catch (e) {
      // The tool's own words (rpmkeys prints its verdicts on stdout, which ToolError keeps when stderr is empty).
      const text = e instanceof ToolError ? `${e.stderr}\n${e.message}` : (e as Error).message;
      const why = /NOKEY/.test(text)
        ? "signed by a key the repository's public.key does not hold"
        : /BAD/.test(text)
          ? 'its signature is BAD (the file changed after signing)'
          : text.split('\n').slice(-3).join(' ');
      problems.push({ file, rule: `no valid signature by the repository's key: ${why}` });
      return;
    }
    judge(file, out);
  });
  return problems.sort((a, b) => compareCodeUnits(a.file, b.file));
}

/**
 * `rpmkeys --checksig -v F1 F2 …` output split per file (a "FILE:" line, then its indented
 * verdicts); undefined unless every file has exactly one section.
 */
export function checksigSections(out: string, files: readonly string[]): Map<string, string> | undefined {
  const sections = new Map<string, string>();
  const wanted = new Set(files);
  let current: string | undefined;
  for (const line of out.split('\n')) {
    if (line.endsWith(':') && wanted.has(line.slice(0, -1))) {
      current = line.slice(0, -1);
      if (sections.has(current)) return undefined;
      sections.set(current, '');
    } else if (current !== undefined && /^\s/.test(line)) sections.set(current, `${sections.get(current)}${line}\n`);
    else if (line.trim() !== '') return undefined;
  }
  return files.every((f) => sections.has(f)) ? sections : undefined;
}
