import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

/** Gives the webhook secret; cached by the caller's process (secretSource). */
export type SecretSource = () => Promise<string>;

/** How long a Lambda trusts the secret it read: a rotated secret is picked up within this. */
const SECRET_CACHE_MS = 5 * 60_000;

/**
 * The webhook secret from the environment: `ROAMING_WEBHOOK_SECRET` itself (npm start, tests), else the
 * Secrets Manager secret `ROAMING_WEBHOOK_SECRET_ARN` names (the stack), read on first use and again
 * every five minutes. Undefined when neither is set: nothing is signed, so nothing is sent.
 */
export function secretSourceFromEnv(env: NodeJS.ProcessEnv): SecretSource | undefined {
  const plain = env.ROAMING_WEBHOOK_SECRET;
  if (plain) return () => Promise.resolve(plain);
  const arn = env.ROAMING_WEBHOOK_SECRET_ARN;
  if (!arn) return undefined;
  let client: SecretsManagerClient | undefined;
  let cached: { value: Promise<string>; at: number } | undefined;
  return function webhookSecret() {
    const now = Date.now();
    if (cached && now - cached.at < SECRET_CACHE_MS) return cached.value;
    client ??= new SecretsManagerClient({});
    const value = client.send(new GetSecretValueCommand({ SecretId: arn })).then((answer) => {
      if (!answer.SecretString) throw new Error('the webhook secret has no SecretString');
      return answer.SecretString;
    });
    // A failed read is not kept: the next call tries again.
    value.catch(() => {
      if (cached?.value === value) cached = undefined;
    });
    cached = { value, at: now };
    return value;
  };
}
