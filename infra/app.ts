import { Annotations, App } from 'aws-cdk-lib';
import { appSettings } from './context.js';
import { RoamingStack } from './roaming-stack.js';

const app = new App();
const settings = appSettings((key) => app.node.tryGetContext(key), process.env);
const stack = new RoamingStack(app, settings.stackName, {
  ...settings.props,
  description: 'Roaming: IM message roaming (HTTP API, Lambda, DynamoDB, scheduled retention sweep)',
  // Environment-agnostic unless the CLI knows the account and region (they are not needed to synthesize).
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
if (settings.placeholders.length > 0) {
  Annotations.of(stack).addWarningV2(
    'roaming:placeholder-jwt',
    `No ${settings.placeholders.join('/')} given: using placeholders, so the deployed API would reject every token. ` +
      'Pass -c jwtIssuer=... -c jwtAudience=... (docs/aws.md).',
  );
}
