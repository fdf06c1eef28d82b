// Three projects so a release engineer can run the fast ones alone:
//   unit        pure functions, no tools, seconds
//   integration real tools (rpmbuild, dpkg-deb, gpg, createrepo_c, aptly, skopeo, dnf, apt-get,
//               s3rver, docker-registry) on 127.0.0.1; SLOW, minutes
//   infra       CDK synthesis, assertions and cdk-nag
// Type checking is done once by `tsc` in `npm test`; ts-jest only transpiles.
const transform = { '^.+\\.ts$': ['ts-jest', { diagnostics: false }] };
const common = {
  testEnvironment: 'node',
  transform,
  moduleFileExtensions: ['ts', 'js', 'json'],
  setupFiles: ['<rootDir>/test/support/env.ts'],
};
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...common, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...common, displayName: 'infra', testMatch: ['<rootDir>/test/infra/**/*.test.ts'] },
  ],
};
