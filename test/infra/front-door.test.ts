import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { FrontDoorStack, type FrontDoorStackProps } from '../../infra/front-door.js';
import { cdkJsonContext } from './support/stack.js';

const API_DOMAIN = 'abc123defg.execute-api.eu-west-1.amazonaws.com';
const CERTIFICATE = 'arn:aws:acm:us-east-1:123456789012:certificate/11111111-2222-3333-4444-555555555555';

function frontDoor(props: Partial<FrontDoorStackProps> = {}, outdir?: string) {
  const app = new App({ context: cdkJsonContext(), outdir });
  const stack = new FrontDoorStack(app, 'RoamingFrontDoor', {
    env: { account: '123456789012', region: 'us-east-1' },
    apiDomain: API_DOMAIN,
    ...props,
  });
  return { app, stack };
}

/** Findings cdk-nag's AwsSolutions pack reports and nobody acknowledged. */
function nagFindings(props: Partial<FrontDoorStackProps>): string[] {
  const outdir = mkdtempSync(join(tmpdir(), 'roaming-front-door-'));
  try {
    const { app } = frontDoor(props, outdir);
    Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
    try {
      app.synth();
    } catch (error) {
      if (!String(error).includes('ValidationFailed')) throw error;
    }
    const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8')) as {
      pluginReports: { violations: { ruleName: string }[] }[];
    };
    return report.pluginReports.flatMap((plugin) => plugin.violations.map((v) => v.ruleName));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

describe('the front door (CloudFront + WAF)', () => {
  let template: Template;

  beforeAll(() => {
    template = Template.fromStack(frontDoor().stack);
  });

  it("adds CSP (frame-ancestors none), nosniff and X-Frame-Options DENY to every answer, API Gateway's own too", () => {
    template.hasResourceProperties('AWS::CloudFront::ResponseHeadersPolicy', {
      ResponseHeadersPolicyConfig: Match.objectLike({
        SecurityHeadersConfig: {
          ContentSecurityPolicy: {
            ContentSecurityPolicy: "default-src 'none'; frame-ancestors 'none'",
            Override: true,
          },
          ContentTypeOptions: { Override: true },
          FrameOptions: { FrameOption: 'DENY', Override: true },
        },
      }),
    });
    const [policyId] = Object.keys(template.findResources('AWS::CloudFront::ResponseHeadersPolicy'));
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        DefaultCacheBehavior: Match.objectLike({ ResponseHeadersPolicyId: { Ref: policyId } }),
      }),
    });
  });

  it('has a CloudFront-scope web ACL with rate rules per IP and per token, and the IP reputation list', () => {
    template.hasResourceProperties('AWS::WAFv2::WebACL', {
      Scope: 'CLOUDFRONT',
      DefaultAction: { Allow: {} },
      Rules: [
        Match.objectLike({
          Name: 'RatePerIp',
          Action: { Block: {} },
          Statement: { RateBasedStatement: { Limit: 2000, AggregateKeyType: 'IP' } },
        }),
        Match.objectLike({
          Name: 'RatePerToken',
          Action: { Block: {} },
          Statement: {
            RateBasedStatement: {
              Limit: 1000,
              AggregateKeyType: 'CUSTOM_KEYS',
              CustomKeys: [
                { Header: { Name: 'authorization', TextTransformations: [{ Priority: 0, Type: 'NONE' }] } },
              ],
            },
          },
        }),
        Match.objectLike({
          Name: 'IpReputation',
          Statement: {
            ManagedRuleGroupStatement: { VendorName: 'AWS', Name: 'AWSManagedRulesAmazonIpReputationList' },
          },
        }),
      ],
    });
  });

  it('puts the API behind the distribution over HTTPS only, uncached, with every header but Host', () => {
    const [aclId] = Object.keys(template.findResources('AWS::WAFv2::WebACL'));
    template.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        WebACLId: { 'Fn::GetAtt': [aclId, 'Arn'] },
        Origins: [
          Match.objectLike({
            DomainName: API_DOMAIN,
            CustomOriginConfig: Match.objectLike({
              OriginProtocolPolicy: 'https-only',
              OriginSSLProtocols: ['TLSv1.2'],
            }),
          }),
        ],
        DefaultCacheBehavior: Match.objectLike({
          ViewerProtocolPolicy: 'https-only',
          AllowedMethods: ['GET', 'HEAD', 'OPTIONS', 'PUT', 'PATCH', 'POST', 'DELETE'],
          // AWS's managed CachingDisabled and AllViewerExceptHostHeader policies.
          CachePolicyId: '4135ea2d-6df8-44a3-9df3-4b5a84be39ad',
          OriginRequestPolicyId: 'b689b0a8-53d0-40ab-baf2-68738e2966ac',
        }),
      }),
    });
  });

  it('takes a custom domain with its us-east-1 certificate and TLS 1.2 at least, and its own rate limits', () => {
    const custom = Template.fromStack(
      frontDoor({
        customDomain: { domainName: 'api.example.org', certificateArn: CERTIFICATE },
        rateLimitPerIp: 500,
      }).stack,
    );
    custom.hasResourceProperties('AWS::CloudFront::Distribution', {
      DistributionConfig: Match.objectLike({
        Aliases: ['api.example.org'],
        ViewerCertificate: {
          AcmCertificateArn: CERTIFICATE,
          MinimumProtocolVersion: 'TLSv1.2_2021',
          SslSupportMethod: 'sni-only',
        },
      }),
    });
    custom.hasOutput('FrontDoorUrl', { Value: 'https://api.example.org' });
    custom.hasResourceProperties('AWS::WAFv2::WebACL', {
      Rules: Match.arrayWith([
        Match.objectLike({
          Name: 'RatePerIp',
          Statement: { RateBasedStatement: { Limit: 500, AggregateKeyType: 'IP' } },
        }),
      ]),
    });
  });

  it('refuses a region other than us-east-1 and a host that is not the API', () => {
    expect(() => frontDoor({ env: { account: '123456789012', region: 'eu-west-1' } })).toThrow(/us-east-1/);
    expect(() => frontDoor({ apiDomain: 'example.org' })).toThrow(/execute-api host name/);
  });

  it('passes cdk-nag with and without a custom domain (acknowledged: geo restriction, access logs, default certificate)', () => {
    expect(nagFindings({})).toEqual([]);
    expect(
      nagFindings({ customDomain: { domainName: 'api.example.org', certificateArn: CERTIFICATE } }),
    ).toEqual([]);
  });
});
