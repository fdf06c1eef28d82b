import { CloneDeployment } from '../../lambda/clone-shared';

/** The deployment the clone Lambdas' tests run against: production and staging, the staging clone project. */
export function testCloneDeployment(stagingProject: string): CloneDeployment {
  return {
    repositories: [
      {
        name: 'production',
        zone: 'production',
        production: true,
        rpmBucket: 'prod-rpm',
        debBucket: 'prod-deb',
        stateBucket: 'prod-state',
        statePrefix: 'production/',
      },
      {
        name: 'staging',
        zone: 'staging',
        production: false,
        rpmBucket: 'stag-rpm',
        debBucket: 'stag-deb',
        stateBucket: 'stag-state',
        statePrefix: 'staging/',
      },
    ],
    projects: { staging: stagingProject },
  };
}
