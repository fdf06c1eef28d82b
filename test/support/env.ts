// jest setupFiles: what bin/ket-packages.ts sets for the CLI, set for code the tests run in-process
// (and the children they start): no AWS SDK Node-version warning in every test's output.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
