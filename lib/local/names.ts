// The local release's fixed names, apart from lib/release/local so the CLI can show them as
// defaults without loading the store, aptly wrappers and the AWS SDK.

/** The embedded store's buckets: the old process's names, staging ("-test") and production. */
export const LOCAL_BUCKETS = {
  staging: { rpm: 'kismatic-packages-rpm-test', deb: 'kismatic-packages-deb-test' },
  production: { rpm: 'kismatic-packages-rpm', deb: 'kismatic-packages-deb' },
  state: 'ket-state',
} as const;

/** The port a served store listens on unless told otherwise (s3rver's usual one). */
export const DEFAULT_SERVE_PORT = 4568;
