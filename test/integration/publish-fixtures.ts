import { mkdir, mkdtemp, readdir, rename, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { signRpms } from '../../lib/packaging/sign';
import { openSigningKey } from '../../lib/signing/keyring';
import { run } from '../../lib/util/exec';

/**
 * Tiny real packages for publishing tests and the benchmark: many RPMs come out of one rpmbuild
 * run (one spec, one sub-package each), DEBs from dpkg-deb; RPMs are signed with rpmsign.
 */
export interface TinyPackage {
  readonly name: string;
  /** RPM version; the RPM release is always 1 and the DEB version is VERSION-1. */
  readonly version: string;
  /** Extra bytes in the payload, to make two builds of one version differ. */
  readonly salt?: string;
  /** RPM Epoch / DEB epoch (absent: none). */
  readonly epoch?: number;
  /** DEB Architecture (default amd64). */
  readonly debArch?: string;
}

export async function makeRpms(outDir: string, packages: readonly TinyPackage[], keysPath?: string): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const top = await mkdtemp(path.join(os.tmpdir(), 'ket-rpmtop-'));
  try {
    // rpmbuild takes one version per spec: group by version.
    const byVersion = new Map<string, TinyPackage[]>();
    for (const p of packages)
      byVersion.set(`${p.epoch ?? ''}:${p.version}`, [...(byVersion.get(`${p.epoch ?? ''}:${p.version}`) ?? []), p]);
    let n = 0;
    for (const group of byVersion.values()) {
      const version = group[0].version;
      const spec = [
        `Name: ket-tiny-base-${n}`,
        ...(group[0].epoch !== undefined ? [`Epoch: ${group[0].epoch}`] : []),
        `Version: ${version}`,
        'Release: 1',
        'Summary: tiny',
        'License: Apache-2.0',
        'BuildArch: x86_64',
        '%description',
        'tiny test package',
        '%install',
        'mkdir -p %{buildroot}/usr/share/ket-tiny',
        ...group.map((p) => `echo '${p.name} ${version} ${p.salt ?? ''}' > %{buildroot}/usr/share/ket-tiny/${p.name}`),
        ...group.flatMap((p) => [
          `%package -n ${p.name}`,
          `Summary: ${p.name}`,
          `%description -n ${p.name}`,
          `${p.name} test package`,
          `%files -n ${p.name}`,
          `/usr/share/ket-tiny/${p.name}`,
        ]),
      ].join('\n');
      const specFile = path.join(top, `s${n++}.spec`);
      await writeFile(specFile, spec + '\n');
      await run(
        'rpmbuild',
        ['-bb', '--quiet', '--define', `_topdir ${top}`, '--define', '_build_id_links none', '--define', 'debug_package %{nil}', specFile],
        { what: 'building tiny RPMs' },
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
    if (keysPath) {
      const key = await openSigningKey({ keysPath });
      try {
        await signRpms(files, key);
      } finally {
        await key.dispose();
      }
    }
    return files.sort();
  } finally {
    await rm(top, { recursive: true, force: true });
  }
}

export async function makeDebs(outDir: string, packages: readonly TinyPackage[]): Promise<string[]> {
  await mkdir(outDir, { recursive: true });
  const files: string[] = [];
  for (const p of packages) {
    const root = await mkdtemp(path.join(os.tmpdir(), 'ket-debroot-'));
    try {
      await mkdir(path.join(root, 'DEBIAN'));
      await mkdir(path.join(root, 'usr/share/ket-tiny'), { recursive: true });
      await writeFile(path.join(root, 'usr/share/ket-tiny', p.name), `${p.name} ${p.version} ${p.salt ?? ''}\n`);
      await writeFile(
        path.join(root, 'DEBIAN/control'),
        [
          `Package: ${p.name}`,
          `Version: ${p.epoch !== undefined ? `${p.epoch}:` : ''}${p.version}-1`,
          `Architecture: ${p.debArch ?? 'amd64'}`,
          'Maintainer: KET tests <test@example.invalid>',
          `Description: ${p.name} test package`,
          '',
        ].join('\n'),
      );
      // Debian's file name convention: no epoch.
      const file = path.join(outDir, `${p.name}_${p.version}-1_${p.debArch ?? 'amd64'}.deb`);
      await run('dpkg-deb', ['--root-owner-group', '-Zgzip', '--build', root, file], { what: 'building a tiny DEB' });
      files.push(file);
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  }
  return files;
}
