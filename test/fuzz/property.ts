import fc from 'fast-check';
import { RoamingClient } from '../../client/roaming-client.js';
import type { RouteSpec } from '../../functions/routes.js';
import { contractProblems } from '../support/openapi-contract.js';
import type { RequestTarget } from '../support/route-requests.js';
import { sendRequest, type WireResponse } from '../support/route-requests.js';
import { type TableSnapshot, tableChanges } from '../support/table-snapshot.js';
import { buildRequest, type FuzzCase, fuzzCase, type WireRequest } from './requests.js';
import { requestTarget, sendWire } from './wire.js';

/**
 * The fuzz property, per route, through the HTTP layer on the real engine: whatever the request, the
 * answer is a valid success (2xx, a JSON object) or a 4xx JSON error whose code and message name the
 * problem, never a 5xx; and a refused request leaves the table byte-for-byte as it was.
 */

/** The service under test: where it listens, how to sign in, and what its table holds. */
export interface FuzzService {
  baseUrl: string;
  /** A valid token; with admin scope, so admin routes' input validation is reached too. */
  token(userId: string): Promise<string>;
  snapshot(): Promise<TableSnapshot>;
}

/** The fuzz world: the caller's single chat and group, with real message ids for the mutations to use. */
export interface FuzzWorld {
  caller: string;
  authorization: string;
  targets: Record<'single' | 'group', RequestTarget>;
}

export async function buildFuzzWorld(service: FuzzService, tag: string): Promise<FuzzWorld> {
  const [caller, peer] = [`fz-${tag}`, `fz-peer-${tag}`];
  const me = new RoamingClient(service.baseUrl, await service.token(caller));
  const them = new RoamingClient(service.baseUrl, await service.token(peer));
  const text = (to: string, chatType: 'single' | 'group', words: string) =>
    ({ to, chatType, type: 'text', body: { text: words } }) as const;
  const single = [
    await me.sendMessage(text(peer, 'single', 'one')),
    await them.sendMessage(text(caller, 'single', 'two')),
  ];
  const group = await me.createGroup({ name: 'fuzz', members: [peer] });
  const inGroup = [await them.sendMessage(text(group.groupId, 'group', 'three'))];
  return {
    caller,
    authorization: `Bearer ${await service.token(caller)}`,
    targets: {
      single: {
        chatType: 'single',
        convId: peer,
        groupId: group.groupId,
        userId: peer,
        msgIds: single.map((m) => m.msgId),
      },
      group: {
        chatType: 'group',
        convId: group.groupId,
        groupId: group.groupId,
        userId: peer,
        msgIds: inGroup.map((m) => m.msgId),
      },
    },
  };
}

/** Error codes of functions/core/errors.ts that a client may see. */
const CLIENT_ERROR_CODES = new Set([
  'bad_request',
  'unauthorized',
  'forbidden',
  'not_found',
  'method_not_allowed',
  'conflict',
  'resync_required',
  'payload_too_large',
  'unsupported_media_type',
  'headers_too_large',
]);

/** What is wrong with an answer (empty when it is fine). */
export function problemsOf(answer: WireResponse, changes: string[]): string[] {
  const problems: string[] = [];
  if (answer.status >= 500) problems.push(`answered ${answer.status}`);
  else if (answer.status < 200 || (answer.status >= 300 && answer.status < 400)) {
    problems.push(`answered ${answer.status}, neither a success nor a client error`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer.text);
  } catch {
    problems.push(`the answer is not JSON: ${answer.text.slice(0, 80)}`);
  }
  if (!(answer.headers['content-type'] ?? '').startsWith('application/json')) {
    problems.push(`content-type ${answer.headers['content-type']}`);
  }
  if (answer.status >= 400 && parsed !== undefined) {
    const error = (parsed as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof error?.code !== 'string' || !CLIENT_ERROR_CODES.has(error.code)) {
      problems.push(`error code ${JSON.stringify(error?.code)} is not a client error code`);
    }
    if (typeof error?.message !== 'string' || error.message.trim().length < 3) {
      problems.push('the error message does not name the problem');
    }
    if (changes.length > 0)
      problems.push(`refused, but the table changed: ${changes.slice(0, 3).join('; ')}`);
  } else if (
    answer.status < 300 &&
    (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
  ) {
    problems.push('a success whose body is not a JSON object');
  }
  return problems;
}

/**
 * A 202 starts background work (a sweep, an export, an erasure): wait until it ended, so the next
 * snapshot is stable. An erasure's job item (`ERASURE|{id}`) says `running` until it is over.
 */
async function settleBackgroundWork(
  service: FuzzService,
  authorization: string,
  started: WireResponse,
): Promise<void> {
  const exportId = exportIdOf(started.text);
  if (exportId !== undefined) return settleExport(service, authorization, exportId);
  for (let i = 0; i < 200; i++) {
    const snapshot = await service.snapshot();
    const erasing = [...snapshot].some(
      ([key, text]) => key.startsWith('ERASURE|') && text.includes('"S":"running"'),
    );
    if (erasing) {
      await new Promise((resolve) => setTimeout(resolve, 25));
      continue;
    }
    const answer = await sendRequest(service.baseUrl, {
      method: 'GET',
      url: '/v1/admin/sweeps?limit=100',
      headers: { authorization },
    });
    const runs = (JSON.parse(answer.text) as { runs?: { status: string }[] }).runs ?? [];
    // A finished run clears its ACTIVE pointer just after it says so.
    if (runs.every((run) => run.status !== 'running') && !(await service.snapshot()).has('SWEEPS|ACTIVE'))
      return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('a sweep started by the fuzzer did not finish within 5 s');
}

function exportIdOf(text: string): string | undefined {
  try {
    const id = (JSON.parse(text) as { exportId?: unknown }).exportId;
    return typeof id === 'string' ? id : undefined;
  } catch {
    return undefined;
  }
}

/** An export started by the fuzzer runs in the server's process: wait until it is done. */
async function settleExport(service: FuzzService, authorization: string, exportId: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const answer = await sendRequest(service.baseUrl, {
      method: 'GET',
      url: `/v1/admin/exports/${exportId}`,
      headers: { authorization },
    });
    if ((JSON.parse(answer.text) as { status?: string }).status !== 'running') return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error('an export started by the fuzzer did not finish within 5 s');
}

/** One fuzz case against one route: the problems it found (empty when the service behaved). */
export async function runCase(
  service: FuzzService,
  world: FuzzWorld,
  route: RouteSpec,
  fuzz: FuzzCase,
): Promise<{ request: WireRequest; answer: WireResponse; problems: string[] }> {
  const request = buildRequest(route, world.targets[fuzz.chatType], fuzz, world.authorization);
  const before = await service.snapshot();
  const answer = await sendWire(service.baseUrl, request);
  if (answer.status === 202) await settleBackgroundWork(service, world.authorization, answer);
  const after = answer.status >= 400 ? await service.snapshot() : before;
  const changes = tableChanges(before, after).map((c) => `${c.kind} ${c.key}`);
  // Held to the OpenAPI document too: a documented status of the operation, a body its schema allows.
  return {
    request,
    answer,
    // Checked against the target as it went on the wire (a trailing space goes as %20, and reaches a route).
    problems: [
      ...problemsOf(answer, changes),
      ...contractProblems({ method: request.method, url: requestTarget(request.url) }, answer),
    ],
  };
}

export interface FuzzOptions {
  seed: number;
  numRuns: number;
  /** Sees every answer's status (to report how many requests got how far). */
  onAnswer?: (status: number) => void;
}

/** A seed per route from the base seed and the route's name: adding a route changes no other's runs. */
export function routeSeed(baseSeed: number, route: RouteSpec): number {
  let hash = baseSeed >>> 0;
  for (const c of `${route.method} ${route.path}`) hash = (Math.imul(hash, 31) + c.charCodeAt(0)) >>> 0;
  return hash | 0;
}

/**
 * Runs the property for one route; the details carry the seed, the shrunk counterexample and its
 * request and answer when it fails (fc.defaultReportMessage prints them).
 */
export async function fuzzRoute(
  service: FuzzService,
  world: FuzzWorld,
  route: RouteSpec,
  options: FuzzOptions,
): Promise<fc.RunDetails<[FuzzCase]>> {
  return fc.check(
    fc.asyncProperty(fuzzCase, async (fuzz) => {
      const { request, answer, problems } = await runCase(service, world, route, fuzz);
      options.onAnswer?.(answer.status);
      if (problems.length > 0) {
        throw new Error(
          `${problems.join('; ')}\n  request: ${describeRequest(request)}\n  answer: ${answer.status} ${answer.text.slice(0, 300)}`,
        );
      }
    }),
    { seed: options.seed, numRuns: options.numRuns, endOnFailure: false, maxSkipsPerRun: 0 },
  );
}

/** A failure in a few lines: the seed and path to replay it, and the shrunk request with its answer. */
export function failureReport(route: RouteSpec, details: fc.RunDetails<[FuzzCase]>): string {
  if (!details.failed) return '';
  const error =
    details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance);
  return [
    `${route.method} ${route.path}: failed after ${details.numRuns} runs, shrunk ${details.numShrinks} times`,
    `  replay: seed ${details.seed}, path "${details.counterexamplePath}"`,
    `  ${error}`,
  ].join('\n');
}

export function describeRequest(request: WireRequest): string {
  const body =
    request.body === undefined
      ? ''
      : ` body(${request.body.length}) ${JSON.stringify(request.body.slice(0, 200))}`;
  const type = request.headers['content-type'];
  return `${request.method} ${request.url.slice(0, 300)}${type === undefined ? '' : ` [${type}]`}${body}`;
}
