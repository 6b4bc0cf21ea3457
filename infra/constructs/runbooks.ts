/** The runbooks an alarm links to (docs/runbooks/{name}.md in this repository). */
export const RUNBOOKS = {
  serverErrors: '5xx-spike',
  throttling: 'throttling',
  sweepStuck: 'sweep-stuck',
  deadLetters: 'dead-letters',
  erasureStuck: 'erasure-stuck',
  restore: 'restore',
  keyRotation: 'key-rotation',
  rollback: 'rollback',
  eventDelivery: 'event-delivery',
} as const;

export type Runbook = (typeof RUNBOOKS)[keyof typeof RUNBOOKS];

export function runbookPath(runbook: Runbook): string {
  return `docs/runbooks/${runbook}.md`;
}

/** An alarm description: what happened, then the runbook to follow (CloudWatch allows 1024 characters). */
export function describeAlarm(what: string, runbook: Runbook): string {
  const description = `${what} Runbook: ${runbookPath(runbook)} (Roaming repository).`;
  if (description.length > 1024) throw new Error(`Alarm description too long: ${description}`);
  return description;
}
