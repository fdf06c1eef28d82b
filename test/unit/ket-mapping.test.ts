import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { loadManifest, parseManifest } from '../../lib/manifest/load';
import { releaseFromManifest } from '../../lib/release-manifest';
import { ketValues } from '../../lib/consume/values';

const base = `
metadata: { maintainer: M <m@example.invalid>, vendor: V, license: L, homepage: https://example.invalid, arch: { rpm: x86_64, deb: amd64 } }
packages:
  - name: kubelet
    description: d
    versioning: kismatic
    version: 1.7.4
    iteration: 1
    sources: [{ id: s, url: https://example.invalid/k, unpinned: true }]
    files: [{ from: s, path: /usr/bin/kubelet, mode: "0755" }]
    KET
  - name: kismatic-offline
    description: d
    versioning: kismatic
    versionFrom: kubelet
    images:
      - { name: tiller, repository: gcr.io/kubernetes-helm/tiller, tag: v2.5.1, digest: "sha256:${'a'.repeat(64)}", IMAGEKET }
`;
const manifest = (ket: string, imageKet = 'ket: { variables: { helm_version: "{tag}" }, make: { HELM_VERSION: "{tag}" } }') =>
  base.replace('KET', ket).replace('IMAGEKET', imageKet);

describe('ket: mappings in release.yaml', () => {
  test('templates expand to the derived version strings and the image tag', () => {
    const m = parseManifest(
      manifest('ket: { variables: { kubernetes_version: "v{version}", kismatic_yum_version: "{rpm}", kismatic_deb_version: "{deb}" } }'),
      't.yaml',
    );
    const values = ketValues(releaseFromManifest(m));
    expect(Object.fromEntries([...values.variables].map(([k, v]) => [k, v.value]))).toEqual({
      kubernetes_version: 'v1.7.4',
      kismatic_yum_version: '1.7.4_1-1',
      kismatic_deb_version: '1.7.4-1',
      helm_version: 'v2.5.1',
    });
    expect(values.make.get('HELM_VERSION')).toEqual({ value: 'v2.5.1', from: 'image "tiller" of kismatic-offline' });
  });

  test('an unknown placeholder or key names the package and field', () => {
    expect(() => parseManifest(manifest('ket: { variables: { kubernetes_version: "v{verison}" } }'), 't.yaml')).toThrow(
      /package "kubelet": field "ket\.variables\.kubernetes_version" unknown placeholder \{verison\}/,
    );
    expect(() => parseManifest(manifest('ket: { varaibles: { x: "{version}" } }'), 't.yaml')).toThrow(
      /package "kubelet": unknown key "ket\.varaibles"/,
    );
    expect(() => parseManifest(manifest('ket: { variables: { Bad-Name: "{version}" } }'), 't.yaml')).toThrow(/ket\.variables/);
  });

  test("the project's release.yaml maps every KET version variable of the old process", () => {
    const values = ketValues(releaseFromManifest(loadManifest(path.join(__dirname, '../../release.yaml'))));
    for (const name of [
      'kubernetes_version',
      'kismatic_yum_version',
      'kismatic_deb_version',
      'etcd_version',
      'etcd_yum_version',
      'etcd_apt_version',
      'transition_etcd_yum_version',
      'transition_etcd_apt_version',
      'docker_engine_yum_version',
      'docker_engine_apt_version',
      'helm_version',
      'cni_version',
      'calico_node_version',
      'kubedns_version',
      'pause_version',
      'contiv_version',
    ])
      expect({ name, set: values.variables.has(name) }).toEqual({ name, set: true });
    expect(values.variables.get('kismatic_yum_version')?.value).toMatch(/^\d+\.\d+\.\d+_\d+-1$/);
    expect(readFileSync(path.join(__dirname, '../../release.yaml'), 'utf8')).toContain('make: { HELM_VERSION: "{tag}" }');
  });
});
