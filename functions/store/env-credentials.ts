import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * Stands in for @aws-sdk/credential-provider-node in the Lambda bundles (infra/bundling.ts, `aliases`):
 * the SDK clients' default credentials, taken from the environment only. Lambda puts the execution
 * role's credentials there (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN), and the full
 * chain looks there first, so a function gets the same credentials without carrying the rest of the chain.
 */
export const defaultProvider = () => fromEnv();
