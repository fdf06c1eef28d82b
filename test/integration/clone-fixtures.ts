import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { signRpms } from '../../lib/packaging/sign';
import { openSigningKey } from '../../lib/signing/keyring';
import { mapConcurrent } from '../../lib/util/concurrency';
import { run } from '../../lib/util/exec';

/**
 * Real RPMs and DEBs of chosen sizes for the clone tests and `npm run bench:clone`: the payload is
 * random bytes (incompressible, so the package is about that size). Many RPMs come out of one
 * rpmbuild run; DEBs are built four at a time.
 */
export interface SizedPackage {
  readonly name: string;
  /** RPM version (release 1); the DEB version is VERSION-1. */
  readonly version: string;
  /** Payload bytes; 0 = a one-line file. */
  readonly bytes?: number;
  /** Makes two builds of one version differ. */
  readonly salt?: string;
}

/** N packages of mixed sizes: mostly tiny, every 50th 64 KiB, every 250th 1 MiB, every 500th 4 MiB. */
export function mixedPackages(n: number, prefix = 'pkg', version = '1.0'): SizedPackage[] {
  return Array.from({ length: n }, (_, i) => ({
    name: `${prefix}-${String(i).padStart(4, '0')}`,
    version,
    bytes: i % 500 === 499 ? 4 << 20 : i % 250 === 249 ? 1 << 20 : i % 50 === 49 ? 64 << 10 : 0,
  }));
}

export async function makeSizedRpms(outDir: string, packages: readonly SizedPackage[], keysPath: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const top = await mkdtemp(path.join(os.tmpdir(), 'ket-clone-rpmtop-'));
  try {
    const payloads = path.join(top, 'payloads');
    await mkdir(payloads);
    for (const p of packages) await writeFile(path.join(payloads, p.name), payload(p));
    const byVersion = new Map<string, SizedPackage[]>();
    for (const p of packages) byVersion.set(p.version, [...(byVersion.get(p.version) ?? []), p]);
    let n = 0;
    for (const [version, group] of byVersion) {
      const spec = [
        `Name: ket-clone-base-${n}`,
        `Version: ${version}`,
        'Release: 1',
        'Summary: clone fixture',
        'License: Apache-2.0',
        'BuildArch: x86_64',
        '%description',
        'clone fixture',
        '%install',
        'mkdir -p %{buildroot}/usr/share/ket-clone',
        ...group.map((p) => `cp ${path.join(payloads, p.name)} %{buildroot}/usr/share/ket-clone/${p.name}`),
        ...group.flatMap((p) => [
          `%package -n ${p.name}`,
          `Summary: ${p.name}`,
          `%description -n ${p.name}`,
          `${p.name} clone fixture`,
          `%files -n ${p.name}`,
          `/usr/share/ket-clone/${p.name}`,
        ]),
      ].join('\n');
      const specFile = path.join(top, `s${n++}.spec`);
      await writeFile(specFile, spec + '\n');
      await run(
        'rpmbuild',
        [
          '-bb',
          '--quiet',
          '--define',
          `_topdir ${top}`,
          '--define',
          '_build_id_links none',
          '--define',
          'debug_package %{nil}',
          '--define',
          '_binary_payload w1.gzdio',
          '--define',
          '__os_install_post %{nil}',
          specFile,
        ],
        { what: 'building clone fixture RPMs' },
      );
    }
    const rpmDir = path.join(top, 'RPMS', 'x86_64');
    const wanted = new Set(packages.map((p) => `${p.name}-${p.version}-1.x86_64.rpm`));
    const files: string[] = [];
    for (const f of await readdir(rpmDir)) {
      if (!wanted.has(f)) continue;
      await rename(path.join(rpmDir, f), path.join(outDir, f));
      files.push(path.join(outDir, f));
    }
    const key = await openSigningKey({ keysPath });
    try {
      await signRpms(files, key);
    } finally {
      await key.dispose();
    }
    return files.sort();
  } finally {
    await rm(top, { recursive: true, force: true });
  }
}

export async function makeSizedDebs(outDir: string, packages: readonly SizedPackage[]): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  return mapConcurrent(packages, 4, async (p) => {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ket-clone-debroot-'));
    try {
      await mkdir(path.join(root, 'DEBIAN'));
      await mkdir(path.join(root, 'usr/share/ket-clone'), { recursive: true });
      await writeFile(path.join(root, 'usr/share/ket-clone', p.name), payload(p));
      await writeFile(
        path.join(root, 'DEBIAN/control'),
        [
          `Package: ${p.name}`,
          `Version: ${p.version}-1`,
          'Architecture: amd64',
          'Maintainer: KET tests <test@example.invalid>',
          `Description: ${p.name} clone fixture`,
          '',
        ].join('\n'),
      );
      const file = path.join(outDir, `${p.name}_${p.version}-1_amd64.deb`);
      await run('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z1', '--build', root, file], { what: 'building a clone fixture DEB' });
      return file;
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });
}

function payload(p: SizedPackage): Buffer {
  if (!p.bytes) return Buffer.from(`${p.name} ${p.version} ${p.salt ?? ''}\n`);
  return Buffer.concat([Buffer.from(`${p.salt ?? ''}\n`), randomBytes(p.bytes)]);
}

/** A build folder (rpms/ and debs/) with these packages. */
export async function makeBuild(dir: string, packages: readonly SizedPackage[], keysPath: string): Promise<string> {
  await makeSizedRpms(path.join(dir, 'rpms'), packages, keysPath);
  await makeSizedDebs(path.join(dir, 'debs'), packages);
  return dir;
}
