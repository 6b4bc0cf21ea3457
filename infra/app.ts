import { Annotations, App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { appSettings } from './context.js';
import { FrontDoorStack } from './front-door.js';
import { RoamingStack } from './roaming-stack.js';

const app = new App();
// The stage file infra/stages/{stage}.json (-c stage=NAME, default dev); a production stage that still has
// placeholders fails here.
const settings = appSettings((key) => app.node.tryGetContext(key), process.env);
const stack = new RoamingStack(app, settings.stackName, {
  ...settings.props,
  description: `Roaming (${settings.stage}): IM message roaming (HTTP API, Lambda, DynamoDB, scheduled retention sweep)`,
  env: settings.env,
  terminationProtection: settings.terminationProtection,
  tags: settings.tags,
});
if (settings.placeholders.length > 0) {
  Annotations.of(stack).addWarningV2(
    'roaming:placeholder-jwt',
    `Stage ${settings.stage} has no ${settings.placeholders.join('/')}: using placeholders, so the deployed API would reject every token. ` +
      `Set them in infra/stages/${settings.stage}.json (docs/aws.md).`,
  );
}
if (settings.frontDoor) {
  // CloudFront's WAF and certificates live in us-east-1: the front door is its own stack there.
  new FrontDoorStack(app, `${settings.stackName}FrontDoor`, {
    ...settings.frontDoor,
    description: `Roaming (${settings.stage}): CloudFront and WAF in front of the HTTP API`,
    env: { account: settings.env.account, region: 'us-east-1' },
    terminationProtection: settings.terminationProtection,
    tags: settings.tags,
  });
}
// cdk-nag's AwsSolutions pack: synthesis fails on any finding not acknowledged with a reason (infra/nag.ts).
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
