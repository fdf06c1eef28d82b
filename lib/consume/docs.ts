import { KetFileError } from './errors';
import { escapeRegExp, mapLines } from './text';
import { KetValue, KetValues } from './values';

export const PROVISION_MD = 'docs/provision.md';
export const README_MD = 'README.md';
export const MAKEFILE = 'Makefile';

/**
 * docs/provision.md lists the packages a node needs as "Kismatic package of COMPONENT VERSION";
 * each component the release names (ket.provision) gets its version.
 * @throws KetFileError when the file has no such line.
 */
export function editProvisionDoc(text: string, values: KetValues): { text: string; findings: string[] } {
  if (!/Kismatic package of /.test(text))
    throw new KetFileError(PROVISION_MD, 'expected the "Kismatic package of COMPONENT VERSION" lines of the node requirements table');
  const seen = new Set<string>();
  // Longest labels first, so "Kubernetes kubelet" is never read as "Kubernetes" + "kubelet".
  const labels = [...values.provision.keys()].sort((a, b) => b.length - a.length);
  const out = mapLines(text, (line) => {
    for (const label of labels) {
      const re = new RegExp(`(Kismatic package of ${escapeRegExp(label)} )([^\\s<]+)`);
      if (re.test(line)) {
        seen.add(label);
        return line.replace(re, (_, pre: string) => pre + values.provision.get(label)!.value);
      }
    }
    return line;
  });
  return { text: out, findings: notFound(values.provision, seen, PROVISION_MD, 'no "Kismatic package of" line for') };
}

/**
 * The "| Component | Version |" table of KET's README: the version cell of each row the release
 * names (ket.readme). Rows it does not name (Calico's release version, say) are reported.
 * @throws KetFileError when the table is missing.
 */
export function editReadmeComponents(text: string, values: KetValues): { text: string; findings: string[] } {
  let inTable = false;
  let found = false;
  const seen = new Set<string>();
  const findings: string[] = [];
  const out = mapLines(text, (line) => {
    if (/^\|\s*Component\s*\|\s*Version\s*\|\s*$/.test(line)) {
      inTable = found = true;
      return line;
    }
    if (!inTable) return line;
    const m = /^(\|\s*)([^|]*?)(\s*\|\s*)([^|]*?)(\s*\|\s*)$/.exec(line);
    if (!m) {
      inTable = false;
      return line;
    }
    const label = m[2];
    if (/^-+$/.test(label)) return line;
    const want = values.readme.get(label);
    if (!want) {
      findings.push(`${README_MD}: component "${label}" (${m[4]}) is not named by the release; left as it is`);
      return line;
    }
    seen.add(label);
    return `${m[1]}${label}${m[3]}${want.value}${m[5]}`;
  });
  if (!found) throw new KetFileError(README_MD, 'expected the "| Component | Version |" table');
  return { text: out, findings: [...findings, ...notFound(values.readme, seen, README_MD, 'no Components row for')] };
}

/**
 * Assignments `NAME = VALUE` (or :=, ?=) of the Makefile variables the release names (ket.make),
 * such as KUBECTL_VERSION and HELM_VERSION: the tools KET's build downloads.
 * @throws KetFileError when none of them is assigned.
 */
export function editMakefile(text: string, values: KetValues): { text: string; findings: string[] } {
  const seen = new Set<string>();
  const out = mapLines(text, (line) => {
    const m = /^([A-Za-z_][A-Za-z0-9_]*)(\s*[:?]?=\s*)(.*?)(\s*)$/.exec(line);
    const want = m && values.make.get(m[1]);
    if (!m || !want) return line;
    seen.add(m[1]);
    return `${m[1]}${m[2]}${want.value}${m[4]}`;
  });
  if (values.make.size > 0 && seen.size === 0)
    throw new KetFileError(MAKEFILE, `expected assignments of ${[...values.make.keys()].join(', ')} (KET's tool versions)`);
  return { text: out, findings: notFound(values.make, seen, MAKEFILE, 'no assignment of') };
}

function notFound(map: ReadonlyMap<string, KetValue>, seen: ReadonlySet<string>, file: string, what: string): string[] {
  return [...map]
    .filter(([label]) => !seen.has(label))
    .map(([label, v]) => `${file}: ${what} ${JSON.stringify(label)} (${v.from} sets ${v.value}); nothing written for it`);
}
