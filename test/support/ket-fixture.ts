import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { ReleaseManifest } from '../../lib/release-manifest';

/**
 * Small stand-ins for the KET files `consume` edits, written by the tests in this project's own
 * words: the same shapes (group_vars keys, Go rule-set constants, install commands, doc tables),
 * none of KET's text. One set of versions gives one complete checkout, so the files expected after
 * moving to release B are simply the fixture written for B.
 */
export interface FixtureVersions {
  readonly k8s: string;
  readonly etcd: string;
  readonly transitionEtcd: string;
  readonly docker: { readonly version: string; readonly rpm: string; readonly deb: string };
  readonly pause: string;
  readonly calico: string;
  readonly helm: string;
}

export const RELEASE_A: FixtureVersions = {
  k8s: '1.7.3',
  etcd: '3.1.10',
  transitionEtcd: '3.0.17',
  docker: { version: '1.12.6', rpm: '1.12.6-1.el7.centos', deb: '1.12.6-0~ubuntu-xenial' },
  pause: '3.0',
  calico: 'v1.3.0',
  helm: 'v2.5.1',
};

export const RELEASE_B: FixtureVersions = {
  k8s: '1.7.4',
  etcd: '3.1.11',
  transitionEtcd: '3.0.17',
  docker: { version: '17.03.2', rpm: '17.03.2-1.el7.centos', deb: '17.03.2~ce-0~ubuntu-xenial' },
  pause: '3.1',
  calico: 'v2.0.0',
  helm: 'v2.6.0',
};

export const FIXTURE_RPM_URL = 'https://rpm.example.invalid';
export const FIXTURE_DEB_URL = 'https://deb.example.invalid';

/** The fixture files for one set of versions: relative path → lines (without endings). */
export function ketFixtureLines(v: FixtureVersions, urls = { rpm: FIXTURE_RPM_URL, deb: FIXTURE_DEB_URL }): Record<string, string[]> {
  const kr = `${v.k8s}_1-1`;
  const kd = `${v.k8s}-1`;
  return {
    'ansible/group_vars/all.yaml': [
      '#-----------------------------------------------------------',
      '# Versions this fixture pins (written by the consume tests)',
      `kubernetes_version: v${v.k8s}`,
      `kismatic_yum_version: ${kr}`,
      `kismatic_deb_version: ${kd}`,
      `etcd_version: ${v.etcd}`,
      `etcd_yum_version: ${v.etcd}-1`,
      `etcd_apt_version: ${v.etcd}`,
      `transition_etcd_yum_version: ${v.transitionEtcd}-1`,
      `transition_etcd_apt_version: ${v.transitionEtcd}`,
      `docker_engine_yum_version: ${v.docker.rpm}`,
      `docker_engine_apt_version: ${v.docker.deb}`,
      `helm_version: ${v.helm}    # follows the tiller image`,
      '',
      `pause_version: "${v.pause}"`,
      `calico_node_version: '${v.calico}'`,
      'flannel_version: "v0.9.0"   # an image the release does not bundle',
      'storage_server_version: "3.8.7"',
      '',
      'kube_proxy_orig_img: gcr.io/google-containers/kube-proxy-amd64:{{kubernetes_version}}',
      'kube_proxy_img: "{{ registry }}/{{ kube_proxy_orig_img }}"',
      'pause_orig_img: gcr.io/google_containers/pause-amd64:{{ pause_version }}',
      'calico_node_orig_img: calico/node:{{ calico_node_version }}',
      'flannel_orig_img: quay.io/coreos/flannel:{{ flannel_version }}',
      'helm_orig_img: gcr.io/kubernetes-helm/tiller:{{ helm_version }}',
      'file_modes:',
      '  certificates: 0660',
      '',
      '# where nodes get the packages from',
      `yum_repository_url: ${urls.rpm}`,
      `yum_gpg_key_url: ${urls.rpm}/public.key`,
      `deb_repository_url: ${urls.deb}`,
      `deb_gpg_key_url: ${urls.deb}/public.key`,
      '',
      '# to try the test repositories, use these lines instead:',
      '# yum_repository_url: https://rpm-test.example.invalid',
      '# yum_gpg_key_url: https://rpm-test.example.invalid/public.key',
      '# deb_repository_url: https://deb-test.example.invalid',
      '# deb_gpg_key_url: https://deb-test.example.invalid/public.key',
    ],
    'pkg/inspector/rule/rule_set.go': [
      'package rule',
      '',
      '// the checks this fixture inspector runs on every node',
      'const defaultRuleSet = `---',
      '- kind: FreeSpace',
      '  path: /',
      '  minimumBytes: 1000',
      '# packages of each role',
      '- kind: PackageDependency',
      '  when: ["etcd", "ubuntu"]',
      '  packageName: etcd',
      `  packageVersion: ${v.etcd}`,
      '- kind: PackageDependency',
      '  when: ["etcd", "centos"]',
      '  packageName: etcd',
      `  packageVersion: ${v.etcd}-1`,
      '- kind: PackageDependency',
      '  when: ["master","rhel"]',
      '  packageName: kubelet',
      `  packageVersion: ${kr}`,
      '- kind: PackageDependency',
      '  when: ["worker","ubuntu"]',
      '  packageName: kubectl',
      `  packageVersion: "${kd}"`,
      '- kind: PackageDependency',
      '  when: ["master","ubuntu", "disconnected"]',
      '  packageName: kismatic-offline',
      `  packageVersion: ${kd}`,
      '- kind: PackageDependency',
      '  when: ["storage", "centos"]',
      '  packageName: docker-engine',
      `  packageVersion: ${v.docker.rpm}`,
      '- kind: PackageDependency',
      '  when: ["etcd", "ubuntu"]',
      '  packageName: curl',
      '  anyVersion: true',
      '- kind: PackageDependency',
      '  when: ["storage", "rhel"]',
      '  packageName: storage-server',
      '  packageVersion: 3.8.7-1.el7',
      '`',
      '',
      'const upgradeRuleSet = `---',
      '- kind: PackageDependency',
      '  when: ["worker", "centos"] # listed among the rhel rules',
      '  packageName: docker-engine',
      `  packageVersion: ${v.docker.rpm}`,
      '- kind: PackageDependency',
      '  when: ["master", "ubuntu"]',
      '  packageName: docker-engine',
      `  packageVersion: ${v.docker.deb}`,
      '- kind: PackageDependency',
      '  when: ["ingress", "ubuntu"]',
      '  packageName: kubelet',
      `  packageVersion: ${kd}`,
      '`',
      '',
      'func all() string { return defaultRuleSet + upgradeRuleSet }',
    ],
    'integration/prepare.go': [
      'package integration',
      '',
      'const (',
      `\taddRpmRepo    = \`sudo curl ${urls.rpm}/kismatic.repo -o /etc/yum.repos.d/kismatic.repo\``,
      `\tyumEtcd       = \`sudo yum -y install etcd-${v.etcd}-1\``,
      '\tyumTransition = `sudo yum -y install transition-etcd`',
      `\tyumNode       = \`sudo yum -y install docker-engine-${v.docker.rpm} kubelet-${kr} kubectl-${kr}\``,
      `\tyumOffline    = \`sudo yum -y install kismatic-offline-${kr}\``,
      `\taddDebKey     = \`wget -qO - ${urls.deb}/public.key | sudo apt-key add -\``,
      `\taddDebRepo    = \`sudo add-apt-repository "deb ${urls.deb} kismatic-xenial main"\``,
      `\taptEtcd       = \`sudo apt-get -y install etcd=${v.etcd}\``,
      `\taptNode       = \`sudo apt-get -y install docker-engine=${v.docker.deb} kubelet=${kd} kubectl=${kd}\``,
      ')',
    ],
    'docs/packages.md': [
      '# Packages (fixture)',
      '',
      `Add the repository: \`sudo curl ${urls.rpm}/kismatic.repo -o /etc/yum.repos.d/kismatic.repo\``,
      '',
      '| Role | Command |',
      '| --- | --- |',
      `| Etcd | \`sudo yum -y install etcd-${v.etcd}-1\` |`,
      `| Node | \`sudo yum -y install docker-engine-${v.docker.rpm} kubelet-${kr} kubectl-${kr}\` |`,
      '',
      `Key: \`wget -qO - ${urls.deb}/public.key | sudo apt-key add -\``,
      `deb ${urls.deb} kismatic-xenial main`,
      '',
      `| Node | \`sudo apt-get -y -t=kismatic-xenial install docker-engine=${v.docker.deb} kubelet=${kd} kubectl=${kd}\` |`,
      'Install kubelet-1.0.0 by hand only if you must (not a command line: left alone).',
    ],
    'docs/provision.md': [
      '<table>',
      `  <tr><td>Kismatic package of Docker ${v.docker.version}</td><td>containers</td></tr>`,
      `  <tr><td>Kismatic package of Etcd ${v.etcd}</td><td>state</td></tr>`,
      '  <tr>',
      `    <td>Kismatic package of Kubernetes kubelet ${kd}</td>`,
      '  </tr>',
      '</table>',
    ],
    'README.md': [
      '# A KET-shaped fixture',
      '',
      '## Components',
      '| Component | Version |',
      '| --- | --- |',
      `| Kubernetes | v${v.k8s} |`,
      `| Docker | v${v.docker.version} |`,
      `| Etcd (for Kubernetes) | v${v.etcd} |`,
      '| Calico | v2.3.0 |',
      '',
      'Kubernetes v1.0.0 was long ago (prose, left alone).',
    ],
    Makefile: ['GO_VERSION = 1.8.0', `KUBECTL_VERSION = v${v.k8s}`, `HELM_VERSION = ${v.helm}`, '', 'build:', '\t@echo building'],
  };
}

/** Line endings: all '\n', or alternating '\r\n' and '\n' (a file edited on two systems). */
export type EolStyle = 'lf' | 'mixed';

export function ketFixtureFiles(v: FixtureVersions, eol: EolStyle = 'lf', urls?: { rpm: string; deb: string }): Record<string, string> {
  return Object.fromEntries(
    Object.entries(ketFixtureLines(v, urls)).map(([f, lines]) => [
      f,
      lines.map((l, i) => l + (eol === 'mixed' && i % 2 === 0 ? '\r\n' : '\n')).join(''),
    ]),
  );
}

export async function writeKetFixture(dir: string, files: Record<string, string>): Promise<void> {
  for (const [f, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, f)), { recursive: true });
    await writeFile(path.join(dir, f), text);
  }
}

/** Every file under dir (names and bytes), hidden ones included: "untouched" means equal snapshots. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else out[path.relative(dir, p)] = (await readFile(p)).toString('base64');
    }
  };
  await walk(dir);
  return out;
}

/** The release matching a fixture version set, as build/release-manifest.json would state it. */
export function fixtureRelease(v: FixtureVersions, sha = false): ReleaseManifest {
  const kismatic = (name: string) => ({
    name,
    version: v.k8s,
    rpm: { version: `${v.k8s}_1-1`, fileName: `${name}-${v.k8s}_1-1.x86_64.rpm`, ...(sha ? { sha256: hex(name + v.k8s + 'rpm') } : {}) },
    deb: { version: `${v.k8s}-1`, fileName: `${name}_${v.k8s}-1_amd64.deb`, ...(sha ? { sha256: hex(name + v.k8s + 'deb') } : {}) },
  });
  const upstream = (name: string, version: string) => ({
    name,
    version,
    rpm: { version: `${version}-1`, fileName: `${name}-${version}-1.x86_64.rpm` },
    deb: { version, fileName: `${name}_${version}_amd64.deb` },
  });
  return {
    schemaVersion: 1,
    manifest: `fixture-release-${v.k8s}.yaml`,
    packages: [
      {
        ...kismatic('kubelet'),
        ket: {
          variables: { kubernetes_version: `v${v.k8s}`, kismatic_yum_version: `${v.k8s}_1-1`, kismatic_deb_version: `${v.k8s}-1` },
          readme: { Kubernetes: `v${v.k8s}` },
          provision: { 'Kubernetes kubelet': `${v.k8s}-1` },
        },
      },
      { ...kismatic('kubectl'), ket: { make: { KUBECTL_VERSION: `v${v.k8s}` } } },
      {
        ...upstream('etcd', v.etcd),
        ket: {
          variables: { etcd_version: v.etcd, etcd_yum_version: `${v.etcd}-1`, etcd_apt_version: v.etcd },
          readme: { 'Etcd (for Kubernetes)': `v${v.etcd}` },
          provision: { Etcd: v.etcd },
        },
      },
      {
        ...upstream('transition-etcd', v.transitionEtcd),
        ket: {
          variables: { transition_etcd_yum_version: `${v.transitionEtcd}-1`, transition_etcd_apt_version: v.transitionEtcd },
        },
      },
      {
        name: 'docker-engine',
        version: v.docker.version,
        rpm: { version: v.docker.rpm, fileName: `docker-engine-${v.docker.rpm}.x86_64.rpm` },
        deb: { version: v.docker.deb, fileName: `docker-engine_${v.docker.deb}_amd64.deb` },
        ket: {
          variables: { docker_engine_yum_version: v.docker.rpm, docker_engine_apt_version: v.docker.deb },
          readme: { Docker: `v${v.docker.version}` },
          provision: { Docker: v.docker.version },
        },
      },
      {
        ...kismatic('kismatic-offline'),
        images: [
          { name: 'kube-proxy', repository: 'gcr.io/google-containers/kube-proxy-amd64', tag: `v${v.k8s}` },
          {
            name: 'pause',
            repository: 'gcr.io/google_containers/pause-amd64',
            tag: v.pause,
            ket: { variables: { pause_version: v.pause } },
          },
          { name: 'calico', repository: 'calico/node', tag: v.calico, ket: { variables: { calico_node_version: v.calico } } },
          {
            name: 'tiller',
            repository: 'gcr.io/kubernetes-helm/tiller',
            tag: v.helm,
            ket: { variables: { helm_version: v.helm }, make: { HELM_VERSION: v.helm } },
          },
        ],
      },
    ],
  };
}

function hex(seed: string): string {
  let h = '';
  for (let i = 0; h.length < 64; i++) h += ((seed.charCodeAt(i % seed.length) * (i + 7)) % 16).toString(16);
  return h;
}
