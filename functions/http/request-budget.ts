import type { MiddlewareObj, Request } from '@middy/core';
import type {
  APIGatewayProxyEventV2WithJWTAuthorizer as HttpEvent,
  APIGatewayProxyStructuredResultV2 as HttpResult,
} from 'aws-lambda';
import { apiTelemetry, describeError, logInRequest } from '../telemetry/api-telemetry.js';
import { storeUsageInScope } from '../telemetry/store-usage.js';
import type { Access, Caller } from './caller.js';

/** What endpoint() needs of the request budget (functions/domain/request-budget.ts). */
export interface RequestBudgetPort {
  admit(owner: string, access: Access): Promise<{ settle(readUnits: number): Promise<void> }>;
}

type Event = HttpEvent & { roaming?: { caller?: Caller } };
type Settle = (readUnits: number) => Promise<void>;

/**
 * Charges the caller's request budget before anything else of the route runs (after authentication:
 * the budget is the caller's), and the read units the request used after it, answered or failed. A
 * request the budget refuses goes no further: 429 with Retry-After, through the error responder.
 */
export function chargeRequestBudget(
  budget: RequestBudgetPort,
  access: Access,
): MiddlewareObj<Event, HttpResult> {
  const admitted = new WeakMap<object, Settle>();
  async function settle(request: Request<Event, HttpResult>) {
    const pay = admitted.get(request);
    if (!pay) return;
    admitted.delete(request);
    try {
      await pay(storeUsageInScope()?.readUnits ?? 0);
    } catch (error) {
      // The answer stands (the work is done); the budget misses this charge, and the line says so.
      logInRequest(apiTelemetry(), 'request budget not charged', { error: describeError(error) });
    }
  }
  return {
    before: async function admitRequest(request) {
      const caller = request.event.roaming?.caller as Caller;
      const admission = await budget.admit(caller.userId, access);
      admitted.set(request, (readUnits) => admission.settle(readUnits));
    },
    after: settle,
    onError: settle,
  };
}
