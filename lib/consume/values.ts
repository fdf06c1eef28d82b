import { KetMapping } from '../manifest/types';
import { ReleaseManifest } from '../release-manifest';
import { UserError } from '../util/errors';

/** One value KET should state, and which package or image of the release says so. */
export interface KetValue {
  readonly value: string;
  /** e.g. 'package "kubelet"' or 'image "tiller" of kismatic-offline'. */
  readonly from: string;
}

/** Everything the release says KET should state, gathered from the `ket` mappings. */
export interface KetValues {
  readonly variables: ReadonlyMap<string, KetValue>;
  readonly make: ReadonlyMap<string, KetValue>;
  readonly readme: ReadonlyMap<string, KetValue>;
  readonly provision: ReadonlyMap<string, KetValue>;
  /** Package name → the RPM version-release and DEB version KET installs and checks. */
  readonly packages: ReadonlyMap<string, { readonly rpm: string; readonly deb: string }>;
  /** The images of every image bundle: repository and tag. */
  readonly images: ReadonlyArray<{ readonly name: string; readonly repository: string; readonly tag: string }>;
}

/**
 * Collects the release's KET mappings. Two packages or images may name the same target only
 * with the same value (netplugin and auth-proxy both set contiv_version); otherwise the release
 * contradicts itself and nothing is written.
 * @throws UserError naming the target and both sources.
 */
export function ketValues(release: ReleaseManifest): KetValues {
  const maps = { variables: new Map<string, KetValue>(), make: new Map(), readme: new Map(), provision: new Map() } as Record<
    keyof KetMapping,
    Map<string, KetValue>
  >;
  const conflicts: string[] = [];
  const add = (mapping: KetMapping | undefined, from: string) => {
    for (const kind of Object.keys(maps) as Array<keyof KetMapping>) {
      for (const [name, value] of Object.entries(mapping?.[kind] ?? {})) {
        const prior = maps[kind].get(name);
        if (prior && prior.value !== value)
          conflicts.push(`ket.${kind}.${name}: ${prior.from} says ${JSON.stringify(prior.value)}, ${from} says ${JSON.stringify(value)}`);
        else if (!prior) maps[kind].set(name, { value, from });
      }
    }
  };
  for (const p of release.packages) {
    add(p.ket, `package "${p.name}"`);
    for (const i of p.images ?? []) add(i.ket, `image "${i.name}" of ${p.name}`);
  }
  if (conflicts.length > 0)
    throw new UserError(
      `${release.manifest}: the release names one KET value twice with different values:\n${conflicts.map((c) => `  - ${c}`).join('\n')}`,
    );
  return {
    ...maps,
    packages: new Map(release.packages.map((p) => [p.name, { rpm: p.rpm.version, deb: p.deb.version }])),
    images: release.packages.flatMap((p) => (p.images ?? []).map((i) => ({ name: i.name, repository: i.repository, tag: i.tag }))),
  };
}
