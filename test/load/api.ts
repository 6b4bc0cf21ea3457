import type { OperationStats } from './stats.js';

/**
 * The load test's HTTP client: one call is one operation as a user sees it. A 429 or 503 is retried
 * after its Retry-After (at most 1 s here, at most 3 times), as an app would; every answer that is not
 * a success is counted under the operation, retried or not. Each request has a time limit, so the run
 * always ends.
 */
export interface ApiAnswer<T> {
  status: number;
  body: T;
}

export class LoadApi {
  constructor(
    private readonly baseUrl: string,
    private readonly stats: OperationStats,
  ) {}

  async call<T = Record<string, unknown>>(
    operation: string,
    token: string,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<ApiAnswer<T>> {
    for (let attempt = 0; ; attempt++) {
      const started = performance.now();
      let status: number;
      let parsed: unknown;
      try {
        const response = await fetch(new URL(path, this.baseUrl), {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          body: body === undefined ? undefined : JSON.stringify(body),
          signal: AbortSignal.timeout(30_000),
        });
        status = response.status;
        const text = await response.text();
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = { text };
        }
        this.stats.record(operation, performance.now() - started);
        if (status < 400) return { status, body: parsed as T };
        this.stats.error(operation, String(status));
        const retryable = status === 429 || status === 503;
        if (!retryable || attempt >= 3) return { status, body: parsed as T };
        const retryAfter = Number(response.headers.get('retry-after') ?? '1');
        await new Promise((resolve) => setTimeout(resolve, Math.min(1000, retryAfter * 1000)));
      } catch (error) {
        this.stats.record(operation, performance.now() - started);
        this.stats.error(operation, (error as Error).name === 'TimeoutError' ? 'timeout' : 'network');
        if (attempt >= 3) return { status: 0, body: {} as T };
      }
    }
  }
}
