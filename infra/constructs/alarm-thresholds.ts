/** Alarm thresholds, in one place (docs/aws.md "Alarms" lists them). */
export const ALARM_THRESHOLDS = {
  /** Per route: 5xx as a percentage of requests, in 3 of 5 minutes with at least MIN_REQUESTS requests. */
  route5xxPercent: 5,
  route5xxMinRequests: 5,
  /** Per route: API Gateway p99 latency, in 3 of 5 minutes. */
  routeP99LatencyMs: 2000,
  /** Per route function: Lambda Errors in 5 minutes. */
  functionErrors: 3,
  /** Per function: Lambda Throttles in 5 minutes. */
  functionThrottles: 5,
  /** Per route function: p99 duration as a share of the timeout, in 5 minutes. */
  durationShareOfTimeout: 0.8,
  /** Table: throttled requests and system errors in 5 minutes. */
  tableThrottledRequests: 1,
  tableSystemErrors: 5,
  /** Table and indexes: consumed units per second as a share of the cap, in 3 of 5 minutes. */
  capShare: 0.8,
  /** Account: concurrent executions as a share of the quota, in 3 of 5 minutes. */
  concurrencyShare: 0.8,
} as const;
