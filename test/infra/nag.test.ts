import { beforeAll, describe, expect, it } from 'vitest';
import { NAG_ACKNOWLEDGEMENTS } from '../../infra/nag.js';
import { type NagViolation, nagViolations } from './support/nag.js';

describe("cdk-nag's AwsSolutions pack", () => {
  let violations: NagViolation[];

  beforeAll(() => {
    // Every optional part on, so each is checked: caps, email and Slack, Contributor Insights, a backup copy,
    // the webhook's queue and sender, the pre-send hook's grant.
    violations = nagViolations({
      throughputCaps: { maxReadRequestUnits: 1000, maxWriteRequestUnits: 500 },
      alarms: { emails: ['oncall@example.org'], slack: { workspaceId: 'T0123', channelId: 'C0456' } },
      contributorInsights: true,
      backup: {
        copy: {
          vaultArn: 'arn:aws:backup:eu-central-1:999999999999:backup-vault:copies',
          deleteAfterDays: 90,
        },
      },
      events: {
        webhookUrl: 'https://hooks.example.com/roaming/events',
        presendUrl: 'https://hooks.example.com/roaming/presend',
      },
    });
    // One full synthesis with every rule of the pack: slow on a shared two-core machine (not an assertion).
  }, 300_000);

  it('reports no finding that is not acknowledged', () => {
    expect(violations).toEqual([]);
  });

  it('acknowledges each kept finding with a reason', () => {
    for (const finding of Object.values(NAG_ACKNOWLEDGEMENTS)) {
      expect(finding.id).toMatch(/^AwsSolutions-/);
      expect(finding.reason.length, finding.id).toBeGreaterThan(80);
    }
  });
});
