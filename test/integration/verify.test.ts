import { mkdir, mkdtemp, readFile, rm, copyFile } from 'node:fs/promises';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { run } from '../../lib/util/exec';
import { silentLogger } from '../../lib/util/log';
import { verifyRpmRepository } from '../../lib/verify';
import { runCli } from '../support/cli';
import { generateTestKeys } from '../support/gpg';

/**
 * When dnf refuses a repository, verify says so in one line naming the repository URL and dnf's
 * reason, with dnf's last lines indented below it (not dnf's command line and every line it
 * printed). Real dnf against repositories on 127.0.0.1.
 */
describe('verify: a dnf failure is one line naming the repository and the reason (integration)', () => {
  let dir: string;
  let server: Server;
  let served: string;
  let closedPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'ket-verify-test-'));
    // An unsigned repository: createrepo_c metadata and a public.key, but no repomd.xml.asc.
    const repo = path.join(dir, 'www', 'unsigned');
    await mkdir(repo, { recursive: true });
    await run('createrepo_c', ['--quiet', repo]);
    const keys = await generateTestKeys(path.join(dir, 'keys'));
    await copyFile(keys.publicKeyPath, path.join(repo, 'public.key'));
    server = createServer((req, res) => {
      const file = path.join(dir, 'www', path.normalize(decodeURIComponent(req.url ?? '/')));
      readFile(file).then(
        (body) => res.writeHead(200, { 'content-length': body.length }).end(body),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    served = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    // A port nothing listens on: bound once, then closed.
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    closedPort = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
  }, 60_000);

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  /** The first line and the rest of a problem. */
  const split = (problem: string) => {
    const [first, ...rest] = problem.split('\n');
    return { first, rest };
  };

  test('an unreachable repository: the URL and the connection error in one line, dnf’s last lines indented below', async () => {
    const url = `http://127.0.0.1:${closedPort}/rpm`;
    const problems = await verifyRpmRepository(url, [{ name: 'kubelet', version: '1.7.4-1' }], silentLogger);
    expect(problems).toHaveLength(1);
    const { first, rest } = split(problems[0]);
    expect(first).toMatch(
      new RegExp(
        `^RPM repository ${url}: dnf rejects the repository metadata: Curl error \\(7\\): Couldn't connect to server for ${url}/repodata/repomd\\.xml`,
      ),
    );
    // No dnf command line (its --installroot and --setopt options), in the line or below it.
    expect(problems[0]).not.toMatch(/--installroot|--setopt/);
    expect(rest[0]).toBe('    dnf (exit 1), last lines:');
    expect(rest.slice(1).every((l) => l.startsWith('      '))).toBe(true);
    expect(rest.join('\n')).toMatch(/Error: Failed to download metadata/);
  }, 60_000);

  test('an unsigned repository: the URL and the missing signature in one line', async () => {
    const url = `${served}/unsigned`;
    const problems = await verifyRpmRepository(url, [], silentLogger);
    expect(problems).toHaveLength(1);
    const { first, rest } = split(problems[0]);
    expect(first).toMatch(new RegExp(`^RPM repository ${url}: dnf rejects the repository metadata: .*repomd\\.xml\\.asc`));
    expect(first).toMatch(/404/);
    expect(rest.length).toBeGreaterThan(1);
    expect(problems[0]).not.toMatch(/--installroot|--setopt/);
  }, 60_000);

  test('through the CLI: one line per repository, each naming its URL and reason', async () => {
    const rpmUrl = `http://127.0.0.1:${closedPort}/rpm`;
    const debUrl = `http://127.0.0.1:${closedPort}/deb`;
    const res = await runCli(['verify', '--rpm-url', rpmUrl, '--deb-url', debUrl]);
    expect(res.code).toBe(1);
    const lines = res.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('error: verify found 2 problem(s):');
    const items = lines.filter((l) => l.startsWith('- '));
    expect(items).toEqual([
      expect.stringMatching(new RegExp(`^- RPM repository ${rpmUrl}: dnf rejects the repository metadata: Curl error \\(7\\)`)),
      expect.stringMatching(
        new RegExp(`^- DEB repository ${debUrl}: no public.key: curl: \\(7\\) Failed to connect to 127\\.0\\.0\\.1 port ${closedPort}`),
      ),
    ]);
    // Every other line is indented output under its problem.
    expect(lines.slice(1).every((l) => l.startsWith('- ') || l.startsWith('    '))).toBe(true);
  }, 60_000);
});
