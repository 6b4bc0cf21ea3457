import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
import { RoamingStack, type RoamingStackProps } from '../../../infra/roaming-stack.js';
import { cdkJsonContext, TEST_AUDIENCE, TEST_ISSUER } from './stack.js';

export interface NagViolation {
  rule: string;
  path: string;
}

/**
 * Synthesizes the stack with cdk-nag's AwsSolutions pack (as infra/app.ts does) into a temporary folder
 * and returns the findings that are not acknowledged (CDK's policy validation report).
 */
export function nagViolations(props: Partial<RoamingStackProps> = {}): NagViolation[] {
  const outdir = mkdtempSync(join(tmpdir(), 'roaming-nag-'));
  try {
    const context = { ...cdkJsonContext(), 'aws:cdk:bundling-stacks': [] };
    const app = new App({ context, outdir });
    new RoamingStack(app, 'RoamingNag', {
      env: { account: '123456789012', region: 'eu-west-1' },
      jwtIssuer: TEST_ISSUER,
      jwtAudience: TEST_AUDIENCE,
      ...props,
    });
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    try {
      app.synth();
    } catch (error) {
      if (!String(error).includes('ValidationFailed')) throw error;
    }
    type Report = {
      pluginReports: {
        violations: { ruleName: string; violatingConstructs: { constructPath: string }[] }[];
      }[];
    };
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as Report;
    return report.pluginReports.flatMap((plugin) =>
      plugin.violations.flatMap((violation) =>
        violation.violatingConstructs.map((construct) => ({
          rule: violation.ruleName,
          path: construct.constructPath,
        })),
      ),
    );
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}
