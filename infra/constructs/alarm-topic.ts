import { Duration, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { SlackChannelConfiguration } from 'aws-cdk-lib/aws-chatbot';
import { ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { type ITopic, Topic } from 'aws-cdk-lib/aws-sns';
import { EmailSubscription } from 'aws-cdk-lib/aws-sns-subscriptions';
import { Construct } from 'constructs';
import type { AlarmDestinations } from './alarms.js';

/**
 * Where every alarm notifies: the stack's own SNS topic (encrypted with a key CloudWatch may use, TLS only)
 * or an existing one, with optional email and Slack subscriptions. It stays in the top-level stack while the
 * alarms live in the Monitoring nested stack (constructs/monitoring.ts): its ARN is a stack output and the
 * subscriptions are confirmed once, so it keeps its identity (the stack gives it the id `Alarms`, its path
 * before the alarms moved, so the topic, key and subscriptions keep their logical ids).
 */
export class AlarmTopic extends Construct {
  readonly topic: ITopic;

  constructor(scope: Construct, id: string, props: AlarmDestinations) {
    super(scope, id);
    this.topic = props.topicArn ? Topic.fromTopicArn(this, 'Topic', props.topicArn) : this.ownTopic();
    for (const email of props.emails ?? []) this.topic.addSubscription(new EmailSubscription(email));
    if (props.slack) {
      new SlackChannelConfiguration(this, 'Slack', {
        slackChannelConfigurationName: `${Stack.of(this).stackName}-alarms`,
        slackWorkspaceId: props.slack.workspaceId,
        slackChannelId: props.slack.channelId,
        notificationTopics: [this.topic],
      });
    }
  }

  private ownTopic(): Topic {
    // CloudWatch can publish to an encrypted topic only through a customer managed key that lets it.
    const key = new Key(this, 'TopicKey', {
      description: 'Roaming: encrypts the alarm topic',
      enableKeyRotation: true,
      // It protects notifications in flight only: nothing to keep once the stack is gone.
      removalPolicy: RemovalPolicy.DESTROY,
      pendingWindow: Duration.days(7),
    });
    key.grant(new ServicePrincipal('cloudwatch.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    return new Topic(this, 'Topic', {
      displayName: `Roaming alarms (${Stack.of(this).stackName})`,
      masterKey: key,
      enforceSSL: true,
    });
  }
}
