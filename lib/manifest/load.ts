import { UserError } from '../util/errors';
import { problemList } from '../util/problem-list';
import { lazyValidator } from '../validation/lazy-validator';
import { fieldPath, parseYamlWithSchema, readYamlFile, SchemaMessages, valueAt } from '../util/yaml-schema';
import { DEFAULT_MANIFEST } from './defaults';
import { expandTemplate, TemplateError } from './template';
import { KetMapping, Manifest, ManifestFile, PackageSpec, ResolvedImage, ResolvedPackage, ResolvedSource } from './types';
import { debFileName, debVersion, rpmFileName, rpmVersion, VersionInput } from './versions';

/** Every problem found in one manifest, reported together so one edit-run cycle fixes them all. */
export class ManifestError extends UserError {
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    super(`${file}: invalid release manifest:\n${problemList(problems)}`);
  }
}

export function loadManifest(file: string = DEFAULT_MANIFEST): Manifest {
  const { text, name } = readYamlFile(file, 'release manifest');
  return parseManifest(text, name);
}

/** Parses, validates and resolves manifest text; `file` names it in messages. */
export function parseManifest(text: string, file: string): Manifest {
  const { data, problems: structural } = parseYamlWithSchema(text, manifestValidator(), schemaMessages);
  if (structural.length > 0) throw new ManifestError(file, structural);
  const manifest = data as ManifestFile;
  const semantic = validateReferences(manifest);
  if (semantic.length > 0) throw new ManifestError(file, semantic);
  const problems: string[] = [];
  const packages = manifest.packages.map((p) => resolvePackage(manifest, p, problems));
  if (problems.length > 0) throw new ManifestError(file, problems);
  return { file, metadata: manifest.metadata, packages };
}

const manifestValidator = lazyValidator('manifest');

const oneOfMessages: Record<string, string> = {
  source: 'needs exactly one of sha256, sha512 or "unpinned: true"',
  image: 'needs exactly one of digest or "unpinned: true"',
  package: 'needs exactly one of version or versionFrom',
};

const schemaMessages: SchemaMessages = {
  patterns: {
    sha256: 'must be 64 lowercase hexadecimal characters',
    sha512: 'must be 128 lowercase hexadecimal characters',
    digest: 'must be "sha256:" followed by 64 lowercase hexadecimal characters',
    version: 'must be dotted numbers such as 1.7.4',
    name: 'must be lowercase letters, digits, and + . - (a valid package name)',
    id: 'must be lowercase letters, digits, and + . -',
    mode: 'must be an octal mode such as "0755"',
    path: 'must be an absolute file path',
    url: 'must be an http(s) URL template',
    homepage: 'must be an http(s) URL',
  },
  // The branches of a failed oneOf only echo it.
  ignore: (e) => e.schemaPath.includes('/oneOf/'),
  // /packages/2/sources/0/sha256 → 'package "etcd": ' and 'sources[0].sha256'.
  locate: (data, segments) => {
    if (segments[0] === 'packages' && segments.length >= 2) {
      const pkgName = (valueAt(data, ['packages', segments[1], 'name']) as string | undefined) ?? `#${Number(segments[1]) + 1}`;
      return { prefix: `package "${pkgName}": `, field: fieldPath(segments.slice(2)) };
    }
    return { prefix: '', field: fieldPath(segments) };
  },
  describe: (e, { segments, prefix, field }) => {
    if (e.keyword !== 'oneOf') return undefined;
    const kind = segments.includes('images') ? 'image' : segments.includes('sources') ? 'source' : 'package';
    return `${prefix}${field ? `field "${field}" ` : ''}${oneOfMessages[kind]}`;
  },
};

function validateReferences(m: ManifestFile): string[] {
  const problems: string[] = [];
  const byName = new Map<string, number>();
  m.packages.forEach((p, i) => {
    const where = `package "${p.name}"`;
    const previous = byName.get(p.name);
    if (previous !== undefined) {
      problems.push(`${where}: field "name" duplicates packages[${previous}] (packages[${i}])`);
    } else {
      byName.set(p.name, i);
    }
    if (p.versionFrom !== undefined) {
      const target = m.packages.find((q) => q.name === p.versionFrom);
      if (!target) problems.push(`${where}: field "versionFrom" names no package: "${p.versionFrom}"`);
      else if (target.version === undefined)
        problems.push(`${where}: field "versionFrom" must name a package with its own version, "${p.versionFrom}" has versionFrom`);
    }
    if (p.versioning === 'repackaged') {
      for (const f of ['rpmRelease', 'debRevision'] as const) {
        if (p[f] === undefined) problems.push(`${where}: missing field "${f}" (required by versioning: repackaged)`);
      }
      if (p.iteration !== undefined) problems.push(`${where}: field "iteration" is not used by versioning: repackaged`);
    } else {
      for (const f of ['rpmRelease', 'debRevision'] as const) {
        if (p[f] !== undefined) problems.push(`${where}: field "${f}" is only used by versioning: repackaged`);
      }
      if (p.iteration === undefined && p.versionFrom === undefined)
        problems.push(`${where}: missing field "iteration" (required by versioning: ${p.versioning})`);
    }
    const sourceIds = new Set<string>();
    (p.sources ?? []).forEach((s, j) => {
      if (sourceIds.has(s.id)) problems.push(`${where}: field "sources[${j}].id" duplicates source "${s.id}"`);
      sourceIds.add(s.id);
    });
    const paths = new Set<string>();
    (p.files ?? []).forEach((f, j) => {
      if (!sourceIds.has(f.from)) problems.push(`${where}: field "files[${j}].from" names no source of this package: "${f.from}"`);
      if (paths.has(f.path)) problems.push(`${where}: field "files[${j}].path" installs "${f.path}" twice`);
      paths.add(f.path);
    });
    const imageNames = new Set<string>();
    (p.images ?? []).forEach((img, j) => {
      if (imageNames.has(img.name)) problems.push(`${where}: field "images[${j}].name" duplicates image "${img.name}"`);
      imageNames.add(img.name);
    });
    const shipsSomething =
      (p.files ?? []).length > 0 || (p.images ?? []).length > 0 || (p.sources ?? []).some((s) => s.format !== undefined);
    if (!shipsSomething) problems.push(`${where}: ships nothing: give it files, images, or sources with a format to repackage`);
  });
  return problems;
}

function versionInputOf(m: ManifestFile, p: PackageSpec): VersionInput {
  const base = p.versionFrom !== undefined ? m.packages.find((q) => q.name === p.versionFrom)! : p;
  return {
    versioning: p.versioning,
    version: base.version!,
    iteration: p.iteration ?? base.iteration,
    rpmRelease: p.rpmRelease,
    debRevision: p.debRevision,
  };
}

function resolvePackage(m: ManifestFile, p: PackageSpec, problems: string[]): ResolvedPackage {
  const v = versionInputOf(m, p);
  const rpm = rpmVersion(v);
  const deb = debVersion(v);
  const vars: Record<string, string | undefined> = {
    name: p.name,
    version: v.version,
    iteration: v.iteration !== undefined ? String(v.iteration) : undefined,
    rpmRelease: v.rpmRelease,
    debRevision: v.debRevision,
  };
  const expand = (template: string, field: string): string => {
    try {
      return expandTemplate(template, vars);
    } catch (e) {
      if (!(e instanceof TemplateError)) throw e;
      problems.push(`package "${p.name}": field "${field}" ${e.message}`);
      return template;
    }
  };
  const sources: ResolvedSource[] = (p.sources ?? []).map((s, j) => ({
    ...s,
    url: expand(s.url, `sources[${j}].url`),
    checksum: s.sha256 ? { algorithm: 'sha256', hex: s.sha256 } : s.sha512 ? { algorithm: 'sha512', hex: s.sha512 } : undefined,
  }));
  const images: ResolvedImage[] = (p.images ?? []).map((img, j) => {
    const tag = expand(img.tag, `images[${j}].tag`);
    const ket = expandKet(img.ket, `images[${j}].ket`, { tag, version: v.version }, p.name, problems);
    return { ...img, tag, reference: `${img.repository}:${tag}`, ...(ket ? { ket } : {}) };
  });
  const ket = expandKet(p.ket, 'ket', { version: v.version, rpm: `${rpm.version}-${rpm.release}`, deb }, p.name, problems);
  return {
    ...p,
    version: v.version,
    iteration: v.iteration,
    rpm: { ...rpm, evr: `${rpm.version}-${rpm.release}`, fileName: rpmFileName(p.name, v, m.metadata.arch.rpm) },
    deb: { version: deb, fileName: debFileName(p.name, v, m.metadata.arch.deb) },
    sources,
    files: (p.files ?? []).map((f, j) => (f.member === undefined ? f : { ...f, member: expand(f.member, `files[${j}].member`) })),
    images,
    ...(ket ? { ket } : {}),
  };
}

/** Expands every template of a `ket` mapping; an unknown placeholder is a problem naming the field. */
function expandKet(
  mapping: KetMapping | undefined,
  field: string,
  vars: Record<string, string>,
  pkgName: string,
  problems: string[],
): KetMapping | undefined {
  if (mapping === undefined) return undefined;
  const out: Record<string, Record<string, string>> = {};
  for (const [kind, map] of Object.entries(mapping) as Array<[keyof KetMapping, Record<string, string>]>) {
    out[kind] = {};
    for (const [name, template] of Object.entries(map)) {
      try {
        out[kind][name] = expandTemplate(template, vars);
      } catch (e) {
        if (!(e instanceof TemplateError)) throw e;
        problems.push(`package "${pkgName}": field "${field}.${kind}.${name}" ${e.message}`);
      }
    }
  }
  return out;
}
