import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { iamTable, withIamTable } from './iam-table.js';
import { PROJECT_ROOT } from './paths.js';
import { RoamingStack } from './roaming-stack.js';
import { wholeTemplate } from './whole-template.js';

/**
 * `npm run docs:iam [-- --check]`: synthesizes the stack offline (no bundling, no credentials) and writes
 * each function's IAM permissions into docs/aws.md ("Least privilege"); with --check, fails if the copy
 * there is stale instead.
 */
const DOC = join(PROJECT_ROOT, 'docs', 'aws.md');

export function synthesizedIamTable(): string {
  const cdkJson = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')) as { context?: object };
  const app = new App({ context: { ...cdkJson.context, 'aws:cdk:bundling-stacks': [] } });
  const stack = new RoamingStack(app, 'Roaming', {
    env: { account: '123456789012', region: 'eu-west-1' },
    jwtIssuer: 'https://issuer.example.com',
    jwtAudience: ['app-client'],
    // Both hooks on, so the table shows every function and grant a stage can have: the webhook's sender,
    // and the send route's read of the signing secret (docs/aws.md "Events").
    events: {
      webhookUrl: 'https://hooks.example.com/roaming/events',
      presendUrl: 'https://hooks.example.com/roaming/presend',
    },
  });
  // The whole template: the admin routes' functions are in the AdminApi nested stack.
  return iamTable(wholeTemplate(stack).toJSON() as Parameters<typeof iamTable>[0]);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const current = readFileSync(DOC, 'utf8');
  const next = withIamTable(current, synthesizedIamTable());
  if (process.argv.includes('--check')) {
    if (next !== current) {
      console.error('docs/aws.md: the IAM table is stale; run npm run docs:iam');
      process.exit(1);
    }
    console.log('docs/aws.md: the IAM table is up to date');
  } else {
    writeFileSync(DOC, next);
    console.log('Wrote the IAM table into docs/aws.md');
  }
}
