import * as path from 'node:path';
import { loadManifest } from '../../lib/manifest/load';
import { debFileName, debVersion, rpmFileName, rpmVersion } from '../../lib/manifest/versions';
import { formatVersionTable } from '../../lib/cli/versions';

describe('version derivation', () => {
  test('kismatic scheme folds the iteration into the RPM version', () => {
    expect(rpmVersion({ versioning: 'kismatic', version: '1.7.4', iteration: 1 })).toEqual({ version: '1.7.4_1', release: '1' });
    expect(debVersion({ versioning: 'kismatic', version: '1.7.4', iteration: 1 })).toBe('1.7.4-1');
    expect(rpmVersion({ versioning: 'kismatic', version: '1.7.4', iteration: 3 })).toEqual({ version: '1.7.4_3', release: '1' });
    expect(debVersion({ versioning: 'kismatic', version: '1.7.4', iteration: 3 })).toBe('1.7.4-3');
  });

  test('upstream scheme keeps the upstream version; later iterations get a Debian revision', () => {
    expect(rpmVersion({ versioning: 'upstream', version: '3.1.10', iteration: 1 })).toEqual({ version: '3.1.10', release: '1' });
    expect(debVersion({ versioning: 'upstream', version: '3.1.10', iteration: 1 })).toBe('3.1.10');
    expect(rpmVersion({ versioning: 'upstream', version: '3.1.10', iteration: 2 })).toEqual({ version: '3.1.10', release: '2' });
    expect(debVersion({ versioning: 'upstream', version: '3.1.10', iteration: 2 })).toBe('3.1.10-2');
  });

  test('repackaged scheme keeps the upstream release and revision', () => {
    const v = { versioning: 'repackaged' as const, version: '1.12.6', rpmRelease: '1.el7.centos', debRevision: '0~ubuntu-xenial' };
    expect(rpmVersion(v)).toEqual({ version: '1.12.6', release: '1.el7.centos' });
    expect(debVersion(v)).toBe('1.12.6-0~ubuntu-xenial');
    expect(rpmFileName('docker-engine', v, 'x86_64')).toBe('docker-engine-1.12.6-1.el7.centos.x86_64.rpm');
    expect(debFileName('docker-engine', v, 'amd64')).toBe('docker-engine_1.12.6-0~ubuntu-xenial_amd64.deb');
  });

  test('release.yaml derives exactly the strings of the 1.7.4-1 release (DESIGN.md §3)', () => {
    const manifest = loadManifest(path.join(__dirname, '../../release.yaml'));
    const byName = Object.fromEntries(manifest.packages.map((p) => [p.name, [p.rpm.evr, p.deb.version]]));
    expect(byName).toMatchObject({
      kubelet: ['1.7.4_1-1', '1.7.4-1'],
      kubectl: ['1.7.4_1-1', '1.7.4-1'],
      etcd: ['3.1.10-1', '3.1.10'],
      'transition-etcd': ['3.0.17-1', '3.0.17'],
      'docker-engine': ['1.12.6-1.el7.centos', '1.12.6-0~ubuntu-xenial'],
    });
    expect(formatVersionTable(manifest)).toMatch(/^kubelet\s+1\.7\.4_1-1\s+1\.7\.4-1$/m);
  });
});
