/**
 * Throwaway packages for the tests and the benches, made with the real tools: RPMs by rpmbuild
 * (many sub-packages of one spec per rpmbuild run) and signed by lib/packaging's signRpms
 * (rpmsign, as `ket-packages build` signs), DEBs by dpkg-deb. They are genuine packages: dnf and
 * apt-get install them with every signature check on.
 *
 * Each package holds one file, PAYLOAD_DIR/NAME: a line of text naming it (and its salt), or
 * `bytes` random (incompressible) bytes, so a package's size is about its payload's.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { signRpms } from '../../lib/packaging/sign';
import { openSigningKey } from '../../lib/signing/keyring';
import { mapConcurrent } from '../../lib/util/concurrency';
import { run } from '../../lib/util/exec';

/** Where each package puts its one file (PAYLOAD_DIR/NAME). */
export const PAYLOAD_DIR = '/usr/share/ket-fixtures';

export interface FixturePackage {
  readonly name: string;
  /** Upstream version; the RPM release and the Debian revision are always 1. */
  readonly version: string;
  /** RPM Epoch and Debian epoch (absent: none). File names carry no epoch, as both formats name files. */
  readonly epoch?: number;
  /** Payload: this many random bytes; absent or 0: one line of text. */
  readonly bytes?: number;
  /** Goes into a text payload, so two builds of one name and version differ in content. */
  readonly salt?: string;
  /** DEB Architecture (default amd64); the RPM is always x86_64. */
  readonly debArch?: string;
}

export function rpmFileName(p: FixturePackage): string {
  return `${p.name}-${p.version}-1.x86_64.rpm`;
}

export function debFileName(p: FixturePackage): string {
  return `${p.name}_${p.version}-1_${p.debArch ?? 'amd64'}.deb`;
}

/**
 * N packages of mixed sizes (the clone test's and bench:clone's): mostly tiny, every 50th 64 KiB,
 * every 250th 1 MiB, every 500th 4 MiB. Names are PREFIX-0000, PREFIX-0001, ...
 */
export function mixedPackages(n: number, prefix = 'pkg', version = '1.0'): FixturePackage[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `${prefix}-${String(i).padStart(4, '0')}`,
    version,
    bytes: i % 500 === 499 ? 4 << 20 : i % 250 === 249 ? 1 << 20 : i % 50 === 49 ? 64 << 10 : 0,
  }));
}

function payload(p: FixturePackage): Buffer {
  return p.bytes ? randomBytes(p.bytes) : Buffer.from(`${p.name} ${p.version} ${p.salt ?? ''}\n`);
}

/** Sub-packages per rpmbuild run: larger sets are split so that two runs use both cores. */
const RPMS_PER_SPEC = 500;

/**
 * A magic database that knows nothing. rpmbuild classifies every file it packs with libmagic and
 * loads the magic database again for each sub-package (about 10 ms of CPU each, most of a small
 * package's build); our payloads are text or random bytes, which libmagic tells apart with no
 * database at all (file classes as with the full database: "ASCII text", and none for data).
 */
const EMPTY_MAGIC = '# ket fixtures: no magic entries (see test/support/packages.ts)\n';

/**
 * Builds RPMs NAME-VERSION-1.x86_64.rpm into outDir and returns their paths in the order given.
 * Signed with the key in keysPath (KEYS_PATH layout) by signRpms; unsigned without it. Throws
 * a ToolError naming the step when rpmbuild or rpmsign fails.
 */
export async function buildRpms(
  outDir: string,
  packages: readonly FixturePackage[],
  options: { keysPath?: string } = {},
): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const work = await mkdtemp(path.join(os.tmpdir(), 'ket-fixture-rpms-'));
  try {
    const magic = path.join(work, 'magic');
    await writeFile(magic, EMPTY_MAGIC);
    // One spec holds one (epoch, version): sub-packages inherit the main package's.
    const groups = new Map<string, FixturePackage[]>();
    for (const p of packages) {
      const key = `${p.epoch ?? ''}:${p.version}`;
      groups.set(key, [...(groups.get(key) ?? []), p]);
    }
    const specs: FixturePackage[][] = [];
    for (const group of groups.values())
      for (let i = 0; i < group.length; i += RPMS_PER_SPEC) specs.push(group.slice(i, i + RPMS_PER_SPEC));
    await mapConcurrent(specs, 2, async (chunk, n) => {
      const top = path.join(work, `spec-${n}`);
      // The payload files are written here and moved into the build root by %install (a rename).
      const staged = path.join(top, 'payload');
      await mkdir(staged, { recursive: true });
      for (const p of chunk) await writeFile(path.join(staged, p.name), payload(p));
      const spec = [
        `Name: ket-fixture-base-${n}`,
        ...(chunk[0].epoch !== undefined ? [`Epoch: ${chunk[0].epoch}`] : []),
        `Version: ${chunk[0].version}`,
        'Release: 1',
        'Summary: KET test fixtures',
        'License: Apache-2.0',
        'BuildArch: x86_64',
        'AutoReqProv: no',
        '%description',
        'KET test fixtures',
        '%install',
        `mkdir -p %{buildroot}${path.dirname(PAYLOAD_DIR)}`,
        `mv ${staged} %{buildroot}${PAYLOAD_DIR}`,
        // No %files of the main package: only the sub-packages are built.
        ...chunk.flatMap((p) => [
          `%package -n ${p.name}`,
          `Summary: ${p.name}`,
          `%description -n ${p.name}`,
          `${p.name}: a KET test fixture`,
          `%files -n ${p.name}`,
          `${PAYLOAD_DIR}/${p.name}`,
        ]),
      ].join('\n');
      const specFile = path.join(top, 'fixtures.spec');
      await writeFile(specFile, spec + '\n');
      const define = (macro: string) => ['--define', macro];
      await run(
        'rpmbuild',
        [
          '-bb',
          '--quiet',
          ...define(`_topdir ${top}`),
          ...define('_build_id_links none'),
          ...define('debug_package %{nil}'),
          // No brp scripts (strip, byte-compile, ...): there is nothing for them in a payload of data.
          ...define('__os_install_post %{nil}'),
          // Stored, not compressed: the payload is random or a line of text.
          ...define('_binary_payload w0.ufdio'),
          // One thread: rpmbuild's OpenMP workers spin while they wait, which on 2 shared cores
          // costs more than they save; two rpmbuild runs at a time use the cores instead.
          ...define('_smp_build_nthreads 1'),
          specFile,
        ],
        { what: `building ${chunk.length} fixture RPM(s)`, env: { ...process.env, MAGIC: magic } },
      );
      for (const p of chunk) await rename(path.join(top, 'RPMS', 'x86_64', rpmFileName(p)), path.join(outDir, rpmFileName(p)));
    });
    const files = packages.map((p) => path.join(outDir, rpmFileName(p)));
    if (options.keysPath && files.length) await signAll(files, options.keysPath);
    return files;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/**
 * rpmsign runs at a time. Each signature is a gpg process that mostly waits for gpg-agent (with
 * --rpmv3, two per package); four runs sign 100 packages in half the time of one.
 */
const SIGN_CONCURRENCY = 4;

/** signRpms (lib/packaging/sign) over the files in SIGN_CONCURRENCY runs at a time, one key. */
async function signAll(files: readonly string[], keysPath: string): Promise<void> {
  const key = await openSigningKey({ keysPath });
  try {
    const size = Math.ceil(files.length / SIGN_CONCURRENCY);
    const parts = Array.from({ length: SIGN_CONCURRENCY }, (_, i) => files.slice(i * size, (i + 1) * size)).filter((p) => p.length);
    await mapConcurrent(parts, SIGN_CONCURRENCY, (part) => signRpms(part, key));
  } finally {
    await key.dispose();
  }
}

/** dpkg-deb runs at a time: each is short and mostly process start. */
const DEB_CONCURRENCY = 4;

/**
 * Builds DEBs NAME_VERSION-1_ARCH.deb into outDir with dpkg-deb and returns their paths in the
 * order given. The package trees are written first, then xargs runs dpkg-deb on them a few at a
 * time: one process start of ours instead of one per package (measured: a spawn from Node costs
 * about 8 ms of CPU, more than dpkg-deb's own run of about 6 ms). Throws a ToolError with
 * dpkg-deb's message when one fails.
 */
export async function buildDebs(outDir: string, packages: readonly FixturePackage[]): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  if (packages.length === 0) return [];
  const work = await mkdtemp(path.join(os.tmpdir(), 'ket-fixture-debs-'));
  try {
    const roots: string[] = [];
    for (const [i, p] of packages.entries()) {
      const root = path.join(work, String(i));
      await mkdir(path.join(root, 'DEBIAN'), { recursive: true });
      await mkdir(path.join(root, PAYLOAD_DIR), { recursive: true });
      await writeFile(path.join(root, PAYLOAD_DIR, p.name), payload(p));
      await writeFile(
        path.join(root, 'DEBIAN', 'control'),
        [
          `Package: ${p.name}`,
          `Version: ${p.epoch !== undefined ? `${p.epoch}:` : ''}${p.version}-1`,
          `Architecture: ${p.debArch ?? 'amd64'}`,
          'Maintainer: KET tests <test@example.invalid>',
          `Description: ${p.name}: a KET test fixture`,
          '',
        ].join('\n'),
      );
      roots.push(root);
    }
    // dpkg-deb names each file PACKAGE_VERSION_ARCH.deb (no epoch) in outDir.
    // gzip at its fastest: an uncompressed tar is 10 KiB at least, and a tiny package stays tiny.
    const dpkgDeb = ['dpkg-deb', '--root-owner-group', '-Zgzip', '-z1', '--build', '{}', outDir];
    await run('xargs', ['-0', '-P', String(DEB_CONCURRENCY), '-I', '{}', ...dpkgDeb], {
      input: roots.map((r) => `${r}\0`).join(''),
      what: `building ${packages.length} fixture DEB(s) with dpkg-deb`,
    });
    return packages.map((p) => path.join(outDir, debFileName(p)));
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** A build folder as `ket-packages build` leaves it: DIR/rpms (signed with keysPath) and DIR/debs. */
export async function buildPackages(dir: string, packages: readonly FixturePackage[], keysPath: string): Promise<string> {
  await Promise.all([buildRpms(path.join(dir, 'rpms'), packages, { keysPath }), buildDebs(path.join(dir, 'debs'), packages)]);
  return dir;
}
