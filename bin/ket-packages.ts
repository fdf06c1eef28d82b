#!/usr/bin/env node
/* eslint-disable @typescript-eslint/no-require-imports -- the code cache must be on before the CLI's modules load */

// V8's compiled code of the modules this CLI loads (the AWS SDK alone is ~90 ms of loading) is
// kept on disk between runs, in the temporary folder: Node 22 and newer do it themselves
// (module.enableCompileCache); on Node 20 the v8-compile-cache library does the same. Loading
// then skips parsing and compiling: ~35 ms less before a publish's first request on a machine
// that ran the CLI before (README, "Benchmark"). A first run, e.g. in a fresh CodeBuild
// container, compiles as before and writes the cache. v8-compile-cache cannot run code that
// calls import() (TypeScript sources run directly by tsx keep theirs; the compiled CLI and its
// dependencies have none), so it serves the compiled CLI only.
const nodeModule = require('node:module') as { enableCompileCache?: () => unknown };
if (nodeModule.enableCompileCache) nodeModule.enableCompileCache();
else if (__filename.endsWith('.js')) require('v8-compile-cache');

// The AWS SDK warns once per run under Node < 22 that SDK releases after January 2027 will need
// Node 22 (@aws-sdk/core, emitWarningIfUnsupportedVersion). The lockfile pins today's SDK and
// everything that runs in AWS uses Node 22, so on a release engineer's Node 20 the warning only
// buries the output; set AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=false to see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

const { main } = require('../lib/cli/program') as typeof import('../lib/cli/program');
main(process.argv).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 2;
});
