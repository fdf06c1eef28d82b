import leven from 'leven';
import { isMap, isScalar, isSeq, parseDocument, Scalar } from 'yaml';
import { describeYamlError } from '../util/yaml-error';
import { KetFileError } from './errors';
import { applySplices, encodeScalar, Splice } from './text';
import { KetValues } from './values';

export const RULE_SET = 'pkg/inspector/rule/rule_set.go';

/** The Go string constants holding the inspector's YAML rule sets; both must be present. */
export const RULE_SET_CONSTANTS = ['defaultRuleSet', 'upgradeRuleSet'] as const;

/** Where a rule set's YAML sits inside the Go file: the raw string between the backquotes. */
export function findRuleSets(text: string): Array<{ name: string; start: number; end: number }> {
  return RULE_SET_CONSTANTS.map((name) => {
    const m = new RegExp(`const ${name}\\s*=\\s*\``).exec(text);
    if (!m) throw new KetFileError(RULE_SET, `expected the rule set constant "const ${name} = \`" (KET's inspector rule sets)`);
    const start = m.index + m[0].length;
    const end = text.indexOf('`', start);
    if (end < 0) throw new KetFileError(RULE_SET, `the raw string of ${name} has no closing backquote`);
    return { name, start, end };
  });
}

const RPM_PLATFORMS = ['centos', 'rhel'];
const DEB_PLATFORMS = ['ubuntu'];

/**
 * Sets packageVersion of every `kind: PackageDependency` rule for one of the release's packages,
 * in both rule sets: the RPM version-release on centos/rhel rules, the DEB version on ubuntu ones
 * (the platform named in `when`; the node role does not matter). Only the version scalars change.
 * A rule whose `when` names no platform or both kinds is reported and left alone.
 * @throws KetFileError when a constant is missing or its YAML does not parse.
 */
export function editRuleSets(text: string, values: KetValues): { text: string; findings: string[] } {
  const splices: Splice[] = [];
  const findings: string[] = [];
  for (const set of findRuleSets(text)) {
    for (const rule of packageRules(text, set)) {
      const pkg = values.packages.get(rule.packageName);
      if (!pkg || !rule.version) continue;
      const rpm = rule.when.some((w) => RPM_PLATFORMS.includes(w));
      const deb = rule.when.some((w) => DEB_PLATFORMS.includes(w));
      if (rpm === deb) {
        findings.push(
          `${RULE_SET}: ${set.name} rule for ${rule.packageName} with when ${JSON.stringify(rule.when)} names ${rpm ? 'both RPM and DEB' : 'no'} platform; left as it is`,
        );
        continue;
      }
      const want = rpm ? pkg.rpm : pkg.deb;
      if (String(rule.version.value) === want) continue;
      const [s, e] = rule.version.range!;
      splices.push({ start: set.start + s, end: set.start + e, text: encodeScalar(want, rule.version.type) });
    }
  }
  const out = applySplices(text, splices);
  // The inspector panics on a rule set that does not parse: prove the edited YAML still does.
  const after = findRuleSets(out).map((set) => ({ name: set.name, rules: packageRules(out, set) }));
  findings.push(...missedRules(after, values));
  return { text: out, findings };
}

const PLATFORMS = [...RPM_PLATFORMS, ...DEB_PLATFORMS];

/**
 * What the version edit may have missed, for a person to look at:
 * - a packageName close to one of ours but not one (kubelett: edit distance 1 or 2), never edited;
 * - per rule set, each (package, platform) rule expected but not found: a package of ours that
 *   has a versioned rule for some platform in either rule set is expected on every platform
 *   (centos, rhel, ubuntu) in both, as in KET v1.5.x.
 */
export function missedRules(sets: ReadonlyArray<{ name: string; rules: readonly PackageRule[] }>, values: KetValues): string[] {
  const findings: string[] = [];
  const ours = [...values.packages.keys()];
  for (const set of sets)
    for (const rule of set.rules) {
      if (values.packages.has(rule.packageName)) continue;
      const near = ours.find((p) => leven(p, rule.packageName) <= 2);
      if (near)
        findings.push(
          `${RULE_SET}: ${set.name} has a PackageDependency for "${rule.packageName}" (when ${JSON.stringify(rule.when)}), close to our package "${near}" but not it; left as it is (a typo in KET?)`,
        );
    }
  const expected = ours.filter((p) => sets.some((s) => s.rules.some((r) => r.packageName === p && r.version)));
  for (const set of sets) {
    const missing = expected.flatMap((p) =>
      PLATFORMS.filter((platform) => !set.rules.some((r) => r.packageName === p && r.version && r.when.includes(platform))).map(
        (platform) => `${p} on ${platform}`,
      ),
    );
    if (missing.length > 0)
      findings.push(
        `${RULE_SET}: ${set.name} has no versioned PackageDependency rule for ${missing.join(', ')} (expected for every platform of each package that has one): the inspector will not check those versions`,
      );
  }
  return findings;
}

export interface PackageRule {
  readonly packageName: string;
  readonly when: string[];
  /** The packageVersion scalar (absent for anyVersion rules). */
  readonly version?: Scalar;
}

/**
 * The PackageDependency rules of one rule set: the YAML of `set` (from findRuleSets) in the Go
 * file's `text`. Version scalars' ranges are offsets into that YAML (add set.start for the file).
 * @throws KetFileError when it does not parse, naming the line and column in the Go file.
 */
export function packageRules(text: string, set: { name: string; start: number; end: number }): PackageRule[] {
  const doc = parseDocument(text.slice(set.start, set.end), { keepSourceTokens: false });
  if (doc.errors.length > 0) {
    // Where the YAML starts in the Go file: positions in the file, not in the raw string.
    const before = text.slice(0, set.start);
    const lineOffset = before.split('\n').length - 1;
    const columnOffset = set.start - (before.lastIndexOf('\n') + 1);
    throw new KetFileError(
      RULE_SET,
      `the YAML of ${set.name} does not parse, at ${describeYamlError(doc.errors[0], lineOffset, columnOffset)}`,
    );
  }
  if (!isSeq(doc.contents)) throw new KetFileError(RULE_SET, `expected ${set.name} to hold a YAML list of rules`);
  const rules: PackageRule[] = [];
  for (const item of doc.contents.items) {
    if (!isMap(item) || String(item.get('kind')) !== 'PackageDependency') continue;
    const when = item.get('when');
    const version = item.get('packageVersion', true);
    rules.push({
      packageName: String(item.get('packageName')),
      when: isSeq(when) ? when.items.map((w) => String(isScalar(w) ? w.value : w)) : [],
      version: isScalar(version) ? version : undefined,
    });
  }
  return rules;
}
