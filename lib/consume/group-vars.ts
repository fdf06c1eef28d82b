import { isMap, isScalar, parseDocument, Scalar } from 'yaml';
import { describeYamlError } from '../util/yaml-error';
import { KetFileError } from './errors';
import { applySplices, encodeScalar, Splice } from './text';
import { KetValues } from './values';

export const GROUP_VARS = 'ansible/group_vars/all.yaml';

/** The repository URLs KET installs from: base URLs of the yum and apt repositories. */
export interface RepositoryUrls {
  readonly rpm: string;
  readonly deb: string;
}

export interface GroupVarsEdit {
  readonly text: string;
  readonly findings: string[];
  /** The repository base URLs all.yaml held before the edit (what other files are matched against). */
  readonly previousUrls: { readonly rpm?: string; readonly deb?: string };
  /** Every top-level scalar variable after the edit (for the image cross-check). */
  readonly variables: ReadonlyMap<string, string>;
}

/**
 * Sets the release's variables in KET's ansible/group_vars/all.yaml: each value node is
 * replaced in place (same quoting; comments, order and line endings untouched), commented lines
 * included, which are not YAML and so never touched. With `urls`, also yum_repository_url,
 * yum_gpg_key_url, deb_repository_url and deb_gpg_key_url (BASE/public.key, where publish puts the key).
 * Findings: variables the release names that all.yaml lacks, and version variables all.yaml has
 * that the release cannot fill (left as they are).
 * @throws KetFileError when the file is not YAML or has no kubernetes_version.
 */
export function editGroupVars(text: string, values: KetValues, urls: RepositoryUrls | undefined): GroupVarsEdit {
  const doc = parseDocument(text, { uniqueKeys: true });
  if (doc.errors.length > 0) throw new KetFileError(GROUP_VARS, `is not valid YAML at ${describeYamlError(doc.errors[0])}`);
  if (!isMap(doc.contents)) throw new KetFileError(GROUP_VARS, 'expected a YAML mapping of variables (KET group_vars)');
  const scalars = new Map<string, Scalar>();
  for (const pair of doc.contents.items) {
    if (isScalar(pair.key) && isScalar(pair.value)) scalars.set(String(pair.key.value), pair.value);
  }
  if (!scalars.has('kubernetes_version'))
    throw new KetFileError(GROUP_VARS, 'expected a top-level "kubernetes_version:" variable (the VERSIONS block of KET group_vars)');

  const wanted = new Map<string, { value: string; from: string }>(values.variables);
  const previousUrls = { rpm: stringOf(scalars.get('yum_repository_url')), deb: stringOf(scalars.get('deb_repository_url')) };
  if (urls) {
    const from = 'the repository URLs';
    wanted.set('yum_repository_url', { value: urls.rpm, from });
    wanted.set('yum_gpg_key_url', { value: `${urls.rpm}/public.key`, from });
    wanted.set('deb_repository_url', { value: urls.deb, from });
    wanted.set('deb_gpg_key_url', { value: `${urls.deb}/public.key`, from });
  }

  const findings: string[] = [];
  const splices: Splice[] = [];
  const after = new Map<string, string>([...scalars].map(([k, v]) => [k, String(v.value)]));
  for (const [name, { value, from }] of wanted) {
    const node = scalars.get(name);
    if (!node || !node.range) {
      findings.push(`${GROUP_VARS}: has no variable ${name} (${from} sets it to ${value}); nothing written for it`);
      continue;
    }
    after.set(name, value);
    if (String(node.value) === value) continue;
    splices.push({ start: node.range[0], end: node.range[1], text: encodeScalar(value, node.type) });
  }

  // Version variables of KET the release does not set: reported, never guessed.
  const tagVariables = new Set<string>();
  for (const [name, node] of scalars) {
    if (!name.endsWith('_orig_img')) continue;
    const tag = String(node.value).split('/').pop()!.split(':').slice(1).join(':');
    for (const m of tag.matchAll(/\{\{\s*(\w+)\s*\}\}/g)) tagVariables.add(m[1]);
  }
  for (const name of scalars.keys()) {
    const versionVariable = /_(yum|apt|deb)_version$/.test(name) || tagVariables.has(name);
    if (versionVariable && !wanted.has(name))
      findings.push(
        `${GROUP_VARS}: ${name} (${String(scalars.get(name)!.value)}) is not set by the release (no package or image maps to it); left as it is`,
      );
  }
  return { text: applySplices(text, splices), findings, previousUrls, variables: after };
}

function stringOf(node: Scalar | undefined): string | undefined {
  return node === undefined ? undefined : String(node.value);
}
