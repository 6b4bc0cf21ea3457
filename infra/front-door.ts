import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib';
import { Certificate } from 'aws-cdk-lib/aws-certificatemanager';
import {
  AllowedMethods,
  CachePolicy,
  Distribution,
  HeadersFrameOption,
  OriginProtocolPolicy,
  OriginRequestPolicy,
  OriginSslPolicy,
  PriceClass,
  ResponseHeadersPolicy,
  SecurityPolicyProtocol,
  ViewerProtocolPolicy,
} from 'aws-cdk-lib/aws-cloudfront';
import { HttpOrigin } from 'aws-cdk-lib/aws-cloudfront-origins';
import { CfnWebACL } from 'aws-cdk-lib/aws-wafv2';
import type { Construct } from 'constructs';
import { API_SECURITY_HEADERS } from '../functions/http/json-response.js';

export interface FrontDoorOptions {
  /** The HTTP API's host name: the `ApiUrl` output of the Roaming stack without `https://`. */
  readonly apiDomain: string;
  /**
   * Requests one client IP may make in any 5 minutes before WAF blocks it (WAF's rate-based rule).
   * @default 2000
   */
  readonly rateLimitPerIp?: number;
  /**
   * Requests one caller (its Authorization header) may make in any 5 minutes.
   * @default 1000
   */
  readonly rateLimitPerToken?: number;
  /**
   * A custom domain (e.g. api.example.com) and its ACM certificate, which must be in us-east-1.
   * @default - the distribution's own *.cloudfront.net name
   */
  readonly customDomain?: { readonly domainName: string; readonly certificateArn: string };
}

export interface FrontDoorStackProps extends StackProps, FrontDoorOptions {}

/**
 * The optional front door (docs/front-door.md): CloudFront in front of the HTTP API with a WAF web ACL
 * (rate limits per IP and per token, and AWS's IP reputation list) and an optional custom domain. HTTP
 * APIs cannot take WAF themselves, and CloudFront's WAF and certificates live in us-east-1, so this is
 * its own stack there, deployed after the Roaming stack (it needs the API's host name).
 */
export class FrontDoorStack extends Stack {
  readonly webAcl: CfnWebACL;
  readonly distribution: Distribution;

  constructor(scope: Construct, id: string, props: FrontDoorStackProps) {
    super(scope, id, props);
    if (!/^[a-z0-9-]+\.execute-api\.[a-z0-9-]+\.amazonaws\.com$/.test(props.apiDomain)) {
      throw new Error(`apiDomain must be the API's execute-api host name, got "${props.apiDomain}"`);
    }
    if (this.region !== 'us-east-1') {
      throw new Error(
        `The front door must be deployed in us-east-1 (CloudFront's WAF and certificates), got ${this.region}`,
      );
    }
    const visibility = (name: string) => ({
      cloudWatchMetricsEnabled: true,
      sampledRequestsEnabled: true,
      metricName: name,
    });
    this.webAcl = new CfnWebACL(this, 'WebAcl', {
      scope: 'CLOUDFRONT',
      defaultAction: { allow: {} },
      visibilityConfig: visibility('roaming-front-door'),
      rules: [
        {
          name: 'RatePerIp',
          priority: 0,
          action: { block: {} },
          statement: {
            rateBasedStatement: { limit: props.rateLimitPerIp ?? 2000, aggregateKeyType: 'IP' },
          },
          visibilityConfig: visibility('rate-per-ip'),
        },
        {
          name: 'RatePerToken',
          priority: 1,
          action: { block: {} },
          statement: {
            rateBasedStatement: {
              limit: props.rateLimitPerToken ?? 1000,
              aggregateKeyType: 'CUSTOM_KEYS',
              customKeys: [
                { header: { name: 'authorization', textTransformations: [{ priority: 0, type: 'NONE' }] } },
              ],
            },
          },
          visibilityConfig: visibility('rate-per-token'),
        },
        {
          name: 'IpReputation',
          priority: 2,
          overrideAction: { none: {} },
          statement: {
            managedRuleGroupStatement: { vendorName: 'AWS', name: 'AWSManagedRulesAmazonIpReputationList' },
          },
          visibilityConfig: visibility('ip-reputation'),
        },
      ],
    });

    // The functions' answers carry these already; API Gateway's own (its 401, 403, 429) carry none, and an
    // HTTP API cannot add headers to them: through the front door, every answer gets them.
    const securityHeaders = new ResponseHeadersPolicy(this, 'SecurityHeaders', {
      comment: 'Roaming: CSP, no framing, nosniff on every answer',
      securityHeadersBehavior: {
        contentSecurityPolicy: {
          contentSecurityPolicy: API_SECURITY_HEADERS['content-security-policy'],
          override: true,
        },
        contentTypeOptions: { override: true },
        frameOptions: { frameOption: HeadersFrameOption.DENY, override: true },
      },
    });

    const custom = props.customDomain;
    this.distribution = new Distribution(this, 'Distribution', {
      comment: 'Roaming: front door of the HTTP API',
      webAclId: this.webAcl.attrArn,
      priceClass: PriceClass.PRICE_CLASS_100,
      domainNames: custom ? [custom.domainName] : undefined,
      certificate: custom
        ? Certificate.fromCertificateArn(this, 'Certificate', custom.certificateArn)
        : undefined,
      // Settable with a custom domain only (the default certificate's minimum is CloudFront's).
      minimumProtocolVersion: custom ? SecurityPolicyProtocol.TLS_V1_2_2021 : undefined,
      defaultBehavior: {
        origin: new HttpOrigin(props.apiDomain, {
          protocolPolicy: OriginProtocolPolicy.HTTPS_ONLY,
          originSslProtocols: [OriginSslPolicy.TLS_V1_2],
        }),
        viewerProtocolPolicy: ViewerProtocolPolicy.HTTPS_ONLY,
        allowedMethods: AllowedMethods.ALLOW_ALL,
        // An API: nothing is cached, and every header but Host (API Gateway routes on its own host) goes through.
        cachePolicy: CachePolicy.CACHING_DISABLED,
        originRequestPolicy: OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
        responseHeadersPolicy: securityHeaders,
      },
    });
    acknowledge(this.distribution, {
      id: 'AwsSolutions-CFR1',
      reason:
        'No geo restriction: the chat API serves its users wherever they are; WAF rate rules limit abuse.',
    });
    acknowledge(this.distribution, {
      id: 'AwsSolutions-CFR3',
      reason:
        'No CloudFront access logs: every request that reaches the API is logged by its stage (one JSON line per request), and WAF logs what it blocks in its sampled requests and metrics.',
    });
    if (!custom) {
      acknowledge(this.distribution, {
        id: 'AwsSolutions-CFR4',
        reason:
          'Without a custom domain the distribution uses the *.cloudfront.net certificate, whose TLS minimum CloudFront fixes; with customDomain the minimum is TLSv1.2_2021.',
      });
    }

    new CfnOutput(this, 'FrontDoorUrl', {
      description: 'Base URL of the API through CloudFront and WAF',
      value: `https://${custom ? custom.domainName : this.distribution.distributionDomainName}`,
    });
  }
}

function acknowledge(scope: Construct, finding: { id: string; reason: string }): void {
  Validations.of(scope).acknowledge(finding);
}
