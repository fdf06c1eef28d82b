import { Command } from 'commander';
import { DEFAULT_MANIFEST } from '../manifest/defaults';
import type { Manifest } from '../manifest/types';
import { action } from './program';

export function registerVersionsCommand(program: Command): void {
  program
    .command('versions')
    .description("Print each package's RPM version-release and DEB version, derived from release.yaml.")
    .option('--manifest <file>', 'release manifest', DEFAULT_MANIFEST)
    .option('--json', 'print JSON instead of a table')
    .action(
      action(async (opts: { manifest: string; json?: boolean }) => {
        const { loadManifest } = await import('../manifest/load');
        const manifest = loadManifest(opts.manifest);
        process.stdout.write(opts.json ? `${JSON.stringify(versionRows(manifest), null, 2)}\n` : formatVersionTable(manifest));
      }),
    );
}

export interface VersionRow {
  readonly package: string;
  readonly rpm: string;
  readonly deb: string;
}

export function versionRows(manifest: Manifest): VersionRow[] {
  return manifest.packages.map((p) => ({ package: p.name, rpm: p.rpm.evr, deb: p.deb.version }));
}

export function formatVersionTable(manifest: Manifest): string {
  const rows = [{ package: 'PACKAGE', rpm: 'RPM', deb: 'DEB' }, ...versionRows(manifest)];
  const width = (k: keyof VersionRow) => Math.max(...rows.map((r) => r[k].length));
  return rows.map((r) => `${r.package.padEnd(width('package'))}  ${r.rpm.padEnd(width('rpm'))}  ${r.deb}`.trimEnd()).join('\n') + '\n';
}
