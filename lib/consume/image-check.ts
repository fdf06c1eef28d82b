import { GROUP_VARS } from './group-vars';
import { KetValues } from './values';

/**
 * Docker Hub short names and their long forms are one image (busybox = docker.io/library/busybox),
 * as the docker CLI reads them.
 */
export function normalizeRepository(repository: string): string {
  const first = repository.split('/')[0];
  const hasRegistry = repository.includes('/') && (first.includes('.') || first.includes(':') || first === 'localhost');
  if (hasRegistry) return repository.replace(/^index\.docker\.io\//, 'docker.io/');
  return `docker.io/${repository.includes('/') ? repository : `library/${repository}`}`;
}

/**
 * Cross-checks every *_orig_img of all.yaml (with the {{ variables }} of all.yaml substituted,
 * after the edit) against the images of the release's bundle: an image KET pulls that the bundle
 * lacks makes a disconnected install fail. Returns one finding per such image.
 */
export function checkBundledImages(variables: ReadonlyMap<string, string>, values: KetValues): string[] {
  if (values.images.length === 0) return [`${GROUP_VARS}: the release has no image bundle, so no *_orig_img was checked`];
  const bundled = new Set(values.images.map((i) => `${normalizeRepository(i.repository)}:${i.tag}`));
  const findings: string[] = [];
  for (const [name, raw] of variables) {
    if (!name.endsWith('_orig_img')) continue;
    const unresolved: string[] = [];
    const reference = raw.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, v: string) => {
      const value = variables.get(v);
      if (value === undefined) unresolved.push(v);
      return value ?? `{{${v}}}`;
    });
    if (unresolved.length > 0 || reference.includes('{')) {
      findings.push(
        `${GROUP_VARS}: ${name} (${raw}) cannot be resolved (${unresolved.join(', ') || 'template'}); not checked against the bundle`,
      );
      continue;
    }
    const slash = reference.lastIndexOf('/');
    const colon = reference.indexOf(':', slash + 1);
    const repository = colon < 0 ? reference : reference.slice(0, colon);
    const tag = colon < 0 ? 'latest' : reference.slice(colon + 1);
    if (!bundled.has(`${normalizeRepository(repository)}:${tag}`))
      findings.push(
        `${GROUP_VARS}: ${name} is ${repository}:${tag}, which kismatic-offline does not contain (a disconnected install would fail to find it)`,
      );
  }
  return findings;
}
