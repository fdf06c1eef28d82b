#!/usr/bin/env node
import { main } from '../lib/cli/program';

// The AWS SDK warns once per run under Node < 22 that SDK releases after January 2027 will need
// Node 22 (@aws-sdk/core, emitWarningIfUnsupportedVersion). The lockfile pins today's SDK and
// everything that runs in AWS uses Node 22, so on a release engineer's Node 20 the warning only
// buries the output; set AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=false to see it.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

main(process.argv).catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exitCode = 2;
});
