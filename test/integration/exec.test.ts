import { Readable } from 'node:stream';
import { run, ToolError, toolTimeoutMs } from '../../lib/util/exec';

/** What run() rejected with, as a ToolError. */
async function failure(p: Promise<unknown>): Promise<ToolError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(ToolError);
  return e as ToolError;
}

describe('run(): every tool one way (integration: real processes)', () => {
  test('output of a successful tool, input on stdin', async () => {
    await expect(run('cat', [], { input: 'hello' })).resolves.toEqual({ stdout: 'hello', stderr: '' });
  });

  test('a stream as stdin is piped in as it arrives; a stream that fails stops the tool', async () => {
    await expect(run('cat', [], { input: Readable.from([Buffer.from('hel'), Buffer.from('lo')]) })).resolves.toEqual({
      stdout: 'hello',
      stderr: '',
    });
    const failing = new Readable({ read() {} });
    const tool = run('cat', [], { input: failing });
    failing.push('partial');
    setTimeout(() => failing.destroy(new Error('connection reset')), 50);
    const e = await failure(tool);
    expect(e.signal).toBe('SIGTERM'); // not waiting forever for the rest of its input
  });

  test('a non-zero exit is a ToolError with the exit code and the tail of stderr', async () => {
    const e = await failure(run('sh', ['-c', 'for i in 1 2 3 4 5 6 7 8 9 10; do echo line$i >&2; done; exit 3'], { what: 'counting' }));
    expect(e).toMatchObject({ tool: 'sh', status: 3, timedOut: false, notInstalled: false, aborted: false });
    expect(e.stderr).toContain('line1\n');
    expect(e.stderrTail.split('\n')).toEqual(['line3', 'line4', 'line5', 'line6', 'line7', 'line8', 'line9', 'line10']);
    expect(e.message).toMatch(/^counting: sh -c .* failed \(exit 3\):\nline3\n/);
  });

  test('a tool that outlives its timeout is killed and says so', async () => {
    const e = await failure(run('sleep', ['30'], { timeoutMs: 200, what: 'waiting' }));
    expect(e.timedOut).toBe(true);
    expect(e.signal).toBe('SIGTERM');
    expect(e.message).toContain('waiting: sleep 30 failed (timed out after 0 s)');
  });

  test('an aborted signal kills the tool, before or during its run', async () => {
    const controller = new AbortController();
    const running = run('sleep', ['30'], { signal: controller.signal });
    setTimeout(() => controller.abort(), 100);
    const e = await failure(running);
    expect(e).toMatchObject({ timedOut: false, aborted: true });
    const before = await failure(run('sleep', ['30'], { signal: AbortSignal.abort() }));
    expect(before.aborted).toBe(true);
  });

  test('a missing tool is named with the step that needed it', async () => {
    const e = await failure(run('no-such-tool-ket', [], { what: 'testing' }));
    expect(e.notInstalled).toBe(true);
    expect(e.message).toBe('no-such-tool-ket is not installed (needed for testing)');
  });

  test('per-tool default timeouts: long for package writers, short for gpg', () => {
    expect(toolTimeoutMs('/usr/bin/rpmbuild')).toBeGreaterThan(toolTimeoutMs('gpg'));
    expect(toolTimeoutMs('gpg')).toBe(120_000);
    expect(toolTimeoutMs('something-else')).toBe(30 * 60_000);
  });
});
