import { KetFileError } from './errors';
import { RepositoryUrls } from './group-vars';
import { escapeRegExp, mapLines } from './text';
import { KetValues } from './values';

export const PREPARE_GO = 'integration/prepare.go';
export const PACKAGES_MD = 'docs/packages.md';

/** How the old repository URLs are replaced: each old base URL (from all.yaml) by the new one. */
export interface UrlChange {
  readonly from: { readonly rpm?: string; readonly deb?: string };
  readonly to: RepositoryUrls;
}

const RPM_COMMAND = /\b(yum|dnf)\b.*\binstall\b/;
const DEB_COMMAND = /\bapt(-get)?\b.*\binstall\b/;

/**
 * Rewrites the versions in yum/apt install commands of a KET file (integration/prepare.go,
 * docs/packages.md): `NAME-VERSION` on yum/dnf lines becomes the RPM version-release,
 * `NAME=VERSION` on apt lines the DEB version, for the release's packages only (a package named
 * without a version, like `transition-etcd`, stays so). With `urls`, every occurrence of the old
 * repository base URL becomes the new one (kismatic.repo, public.key and the apt line follow).
 * @throws KetFileError when the file has no install command for any of the release's packages.
 */
export function editInstallCommands(
  text: string,
  file: string,
  values: KetValues,
  urls: UrlChange | undefined,
): { text: string; findings: string[] } {
  const names = [...values.packages.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
  // A package token starts a word (after space, quote, backquote or line start), so etcd never
  // matches inside transition-etcd; longest names first, so kismatic-offline wins over any prefix.
  const rpmToken = new RegExp(`(^|[\\s\`"'])(${names.join('|')})-(\\d[^\\s\`"'|]*)`, 'g');
  const debToken = new RegExp(`(^|[\\s\`"'])(${names.join('|')})=(\\d[^\\s\`"'|]*)`, 'g');
  let commands = 0;
  let out = mapLines(text, (line) => {
    if (RPM_COMMAND.test(line))
      return line.replace(rpmToken, (_m: string, pre: string, name: string) => {
        commands += 1;
        return `${pre}${name}-${values.packages.get(name)!.rpm}`;
      });
    if (DEB_COMMAND.test(line))
      return line.replace(debToken, (_m: string, pre: string, name: string) => {
        commands += 1;
        return `${pre}${name}=${values.packages.get(name)!.deb}`;
      });
    return line;
  });
  if (commands === 0)
    throw new KetFileError(
      file,
      `expected yum/apt install commands naming the KET packages (e.g. "yum -y install ${[...values.packages.keys()][0]}-VERSION")`,
    );
  const findings: string[] = [];
  if (urls) {
    for (const kind of ['rpm', 'deb'] as const) {
      const old = urls.from[kind];
      if (old === undefined || old === urls.to[kind]) continue;
      const re = new RegExp(`${escapeRegExp(old.replace(/\/+$/, ''))}(?=[/\\s"'\`|)]|$)`, 'gm');
      const before = out;
      out = out.replace(re, urls.to[kind]);
      if (before === out) findings.push(`${file}: does not mention the old ${kind.toUpperCase()} repository ${old}; no URL changed`);
    }
  }
  return { text: out, findings };
}
