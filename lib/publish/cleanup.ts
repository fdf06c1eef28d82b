/**
 * Cleanup of a publish's secrets and scratch files (the temporary GNUPGHOME with the secret key,
 * the passphrase file, gpg-agents, work folders) that runs exactly once, on whichever path ends
 * the publish first: success, refusal, exception, or an abort signal (the CLI turns SIGINT and
 * SIGTERM into one). Tasks run all at once (they are independent: a process, a folder, a lock),
 * failures ignored (cleanup must finish); what they share (the S3 client) is closed after run().
 */
export class Cleanup {
  private readonly tasks: Array<() => Promise<unknown>> = [];
  private running?: Promise<void>;

  /** Registers a task; after run() started, it runs at once (nothing registered late is left behind). */
  add(task: () => Promise<unknown>): void {
    if (this.running) this.running = this.running.then(() => task().then(noop, noop));
    else this.tasks.push(task);
  }

  /** Runs every task once, at once; later calls return the same promise. */
  run(): Promise<void> {
    this.running ??= Promise.all(this.tasks.splice(0).map((t) => t().then(noop, noop))).then(noop);
    return this.running;
  }
}

function noop(): void {}
