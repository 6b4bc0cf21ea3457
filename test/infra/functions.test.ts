import { Duration } from 'aws-cdk-lib';
import type { Template } from 'aws-cdk-lib/assertions';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { beforeAll, describe, expect, it } from 'vitest';
import { ERASURE_FUNCTION, HEALTH_ROUTE, ROUTES, SWEEP_FUNCTION } from '../../functions/routes.js';
import { TABLE_INDEXES } from '../../functions/store/table.js';
import {
  AUDIT_ACTIONS,
  INDEX_PARTITIONS,
  isReadOnly,
  PARTITIONS,
  type Partition,
  type StoreAccess,
  withRequestBudget,
} from '../../functions/store-access.js';
import { TRACED_ROUTES } from '../../infra/constructs/api.js';
import {
  actionsOf,
  aliasIdOf,
  allStatements,
  functionId,
  functionIds,
  functionProps,
  getAtt,
  indexArns,
  onlyResource,
  resources,
  resourcesOf,
  roleIdOf,
  roleStatements,
  type Statement,
  synthesize,
} from './support/stack.js';

/** The admin routes that answer with a retention preview, so read (Query) users' partitions. */
const PREVIEWING_ROUTES = ['previewRetention', 'putRetention', 'putUserRetention'];
/** The routes that recall or edit a message (docs/recall-and-edit.md). */
const REVISING_ROUTES = ['recallMessage', 'modifyMessage'];

const ENTRY_NAMES = [
  ...ROUTES.map((route) => route.name),
  'health',
  'notFound',
  'sweep',
  'exportWorker',
  'erasure',
  'eventsForBus',
  'deliverEvents',
];

/** The events' functions: no table access, no reserved concurrency (their callers are Pipes and SQS). */
const EVENT_FUNCTIONS = ['eventsForBus', 'deliverEvents'];

let template: Template;
let tableId: string;
let auditTableId: string;

beforeAll(() => {
  // With a webhook, so the sender is here too (constructs/events.ts).
  template = synthesize({
    props: { events: { webhookUrl: 'https://hooks.example.com/roaming/events' } },
  }).whole;
  const tables = resources(template, 'AWS::DynamoDB::Table');
  tableId = tables.find(([id]) => id.startsWith('DataTable'))?.[0] as string;
  auditTableId = tables.find(([id]) => id.startsWith('DataAuditTable'))?.[0] as string;
});

function statementsOf(name: string): Statement[] {
  return roleStatements(template, roleIdOf(template, functionId(template, name)));
}

/** The ARN of a function's `live` alias (which must exist), as built from the function's ARN. */
function liveAliasArn(functionLogicalId: string) {
  const aliasId = aliasIdOf(template, functionLogicalId);
  expect(template.findResources('AWS::Lambda::Alias')[aliasId]?.Properties?.Name).toBe('live');
  return { 'Fn::Join': ['', [getAtt(functionLogicalId), ':live']] };
}

function dynamoStatements(statements: Statement[]): Statement[] {
  return statements.filter((s) => actionsOf(s).some((action) => action.startsWith('dynamodb:')));
}

describe('the functions', () => {
  it("are one per route, plus health, notFound, sweep, the export worker, erasure and the events' two", () => {
    expect([...functionIds(template).keys()].sort()).toEqual([...ENTRY_NAMES].sort());
    template.resourceCountIs('AWS::Lambda::Function', ROUTES.length + 7);
  });

  it("reserves no concurrency for the events' functions (the quota check's total stays the API's and the sweep's)", () => {
    for (const name of EVENT_FUNCTIONS) {
      expect(functionProps(template, name).ReservedConcurrentExecutions, name).toBeUndefined();
    }
  });

  it.each(ENTRY_NAMES)(
    '%s runs Node.js 22 on arm64 with the table name, without runtime source maps',
    (name) => {
      const props = functionProps(template, name);
      expect(props).toMatchObject({
        Runtime: 'nodejs22.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
        Environment: { Variables: { TABLE_NAME: { Ref: tableId } } },
      });
      // --enable-source-maps costs every cold start and first error (bench/README.md, "Source maps").
      expect((props.Environment as { Variables: object }).Variables).not.toHaveProperty('NODE_OPTIONS');
    },
  );

  it.each(ENTRY_NAMES)('%s logs to its own log group, kept for one month', (name) => {
    const logGroup = (functionProps(template, name).LoggingConfig as { LogGroup?: { Ref?: string } }).LogGroup
      ?.Ref;
    expect(logGroup).toBeDefined();
    const group = template.findResources('AWS::Logs::LogGroup')[logGroup as string];
    expect(group?.Properties).toMatchObject({ RetentionInDays: 30 });
    const others = ENTRY_NAMES.filter((other) => other !== name).map(
      (other) =>
        (functionProps(template, other).LoggingConfig as { LogGroup?: { Ref?: string } }).LogGroup?.Ref,
    );
    expect(others).not.toContain(logGroup);
  });

  it('gives route functions 512 MB and 10 s, the sweep 1024 MB and 5 minutes', () => {
    for (const name of [...ROUTES.map((route) => route.name), 'health', 'notFound']) {
      expect(functionProps(template, name), name).toMatchObject({ MemorySize: 512, Timeout: 10 });
    }
    expect(functionProps(template, 'sweep')).toMatchObject({
      MemorySize: 1024,
      Timeout: 300,
      ReservedConcurrentExecutions: 2,
    });
  });

  it("reserves concurrency for every API function, so no route can take the others' share: user routes 10, admin routes 2, health and 404 2", () => {
    for (const route of ROUTES) {
      expect(functionProps(template, route.name).ReservedConcurrentExecutions, route.name).toBe(
        route.access === 'admin' ? 2 : 10,
      );
    }
    expect(functionProps(template, 'health').ReservedConcurrentExecutions).toBe(2);
    expect(functionProps(template, 'notFound').ReservedConcurrentExecutions).toBe(2);
  });

  it('takes the shares from the stage, per kind and per route, and refuses more than the account quota holds', () => {
    const custom = synthesize({
      props: {
        api: {
          reservedConcurrency: { userRoute: 5, adminRoute: 1, unrouted: 1, routes: { sendMessage: 30 } },
        },
      },
    }).whole;
    expect(functionProps(custom, 'sendMessage').ReservedConcurrentExecutions).toBe(30);
    expect(functionProps(custom, 'fetchHistory').ReservedConcurrentExecutions).toBe(5);
    expect(functionProps(custom, 'listAudit').ReservedConcurrentExecutions).toBe(1);
    expect(functionProps(custom, 'notFound').ReservedConcurrentExecutions).toBe(1);
    // 16 user routes × 10 + 17 admin × 2 + 2 × 2 + the sweep's 2 = 200, and Lambda keeps 100 unreserved.
    expect(() => synthesize({ props: { alarms: { accountConcurrencyLimit: 299 } } })).toThrow(
      /reserve 200 concurrent executions .* quota of at least 300, and alarms.accountConcurrencyLimit says 299/,
    );
    expect(() => synthesize({ props: { alarms: { accountConcurrencyLimit: 300 } } })).not.toThrow();
    expect(() =>
      synthesize({ props: { api: { reservedConcurrency: { userRoute: 0, adminRoute: 1, unrouted: 1 } } } }),
    ).toThrow(/integer of at least 1/);
  });

  it('sets no tunables unless asked (the runtime defaults apply); only the functions that keep retry records get the idempotency key, only the sender the webhook', () => {
    const keepers = ['sendMessage', 'createGroup'];
    for (const name of ENTRY_NAMES) {
      const variables = (functionProps(template, name).Environment as { Variables: object }).Variables;
      const expected = keepers.includes(name) ? ['ROAMING_IDEMPOTENCY_KEY'] : [];
      if (name === 'deliverEvents') expected.push('ROAMING_WEBHOOK_SECRET_ARN', 'ROAMING_WEBHOOK_URL');
      expect(
        Object.keys(variables)
          .filter((key) => key.startsWith('ROAMING_'))
          .sort(),
        name,
      ).toEqual(expected);
    }
  });

  it("tells only startSweep the sweep function's live alias (its ARN built from the function's: no reference to the alias resource)", () => {
    const sweepAliasArn = liveAliasArn(functionId(template, 'sweep'));
    for (const name of ENTRY_NAMES) {
      const variables = (functionProps(template, name).Environment as { Variables: Record<string, unknown> })
        .Variables;
      expect(variables.SWEEP_FUNCTION_NAME, name).toEqual(name === 'startSweep' ? sweepAliasArn : undefined);
    }
  });

  it('traces the send and sweep paths with X-Ray, and nothing else', () => {
    const traced = [...TRACED_ROUTES, 'sweep'];
    expect(traced.sort()).toEqual(['sendMessage', 'startSweep', 'sweep']);
    for (const name of ENTRY_NAMES) {
      expect(functionProps(template, name).TracingConfig, name).toEqual(
        traced.includes(name) ? { Mode: 'Active' } : undefined,
      );
    }
  });
});

describe('least privilege from the route table', () => {
  /** Every DynamoDB grant of a function, one string per (resource, action, partition pattern). */
  function grantsOf(name: string): string[] {
    const grants: string[] = [];
    for (const statement of dynamoStatements(statementsOf(name))) {
      expect(statement.Effect).toBe('Allow');
      const patterns = (
        statement.Condition as
          | { 'ForAllValues:StringLike'?: { 'dynamodb:LeadingKeys'?: string[] } }
          | undefined
      )?.['ForAllValues:StringLike']?.['dynamodb:LeadingKeys'];
      for (const resource of resourcesOf(statement)) {
        const where = resourceName(resource);
        // The audit trail's table is the audit trail's only: no partition conditions needed there.
        // A Scan names no partition (the erasure's only: store-access.ts, `scan`).
        const scan = actionsOf(statement).join() === 'dynamodb:Scan';
        if (where !== 'audit' && !scan)
          expect(patterns, `${name}: ${where} grants carry LeadingKeys`).toBeDefined();
        for (const action of actionsOf(statement)) {
          for (const pattern of patterns ?? ['*']) grants.push(`${where} ${action} ${pattern}`);
        }
      }
    }
    return grants.sort();
  }

  /** `table`, `index:byLatest`, ... or `audit`; anything else fails the test. */
  function resourceName(resource: unknown): string {
    const json = JSON.stringify(resource);
    if (json === JSON.stringify(getAtt(tableId))) return 'table';
    if (json === JSON.stringify(getAtt(auditTableId))) return 'audit';
    const index = TABLE_INDEXES.find((i) => json === JSON.stringify(indexArns(tableId, [i.indexName])[0]));
    if (index) return `index:${index.indexName}`;
    throw new Error(`A grant on another resource: ${json}`);
  }

  /** What the route table declares, in the same form. */
  function declared(store: StoreAccess | undefined): string[] {
    if (!store) return [];
    const grants: string[] = [];
    for (const [partition, actions] of Object.entries(store.table) as [Partition, readonly string[]][]) {
      for (const action of actions) grants.push(`table dynamodb:${action} ${PARTITIONS[partition]}`);
    }
    for (const index of store.indexes ?? [])
      grants.push(`index:${index} dynamodb:Query ${INDEX_PARTITIONS[index]}`);
    for (const action of store.audit ? AUDIT_ACTIONS[store.audit] : [])
      grants.push(`audit dynamodb:${action} *`);
    if (store.scan) grants.push('table dynamodb:Scan *');
    return grants.sort();
  }

  const FUNCTIONS: [string, StoreAccess | undefined][] = [
    // Every route also charges its caller's request budget (its only grant in the budget partition).
    ...ROUTES.map((route) => [route.name, withRequestBudget(route.store)] as [string, StoreAccess]),
    [HEALTH_ROUTE.name, HEALTH_ROUTE.store],
    [SWEEP_FUNCTION.name, SWEEP_FUNCTION.store],
    [ERASURE_FUNCTION.name, ERASURE_FUNCTION.store],
    ['notFound', undefined],
    // The events' functions read nothing of the table: the pipes hand them the stream's records.
    ['eventsForBus', undefined],
    ['deliverEvents', undefined],
  ];

  it.each(FUNCTIONS)(
    '%s may use exactly the actions its route table entry declares, each on its partitions only',
    (name, store) => {
      expect(grantsOf(name)).toEqual(declared(store));
    },
  );

  it('read routes exist, and get no write action anywhere', () => {
    const readRoutes = ROUTES.filter((route) => isReadOnly(route.store));
    expect(readRoutes.map((route) => route.name).sort()).toEqual([
      'fetchHistory',
      'getErasure',
      'getExport',
      'getRetention',
      'listAudit',
      'listHolds',
      'listSweeps',
      'previewRetention',
    ]);
    for (const route of [...readRoutes, HEALTH_ROUTE]) {
      for (const grant of grantsOf(route.name)) {
        if (grant === 'table dynamodb:UpdateItem B#*') continue; // the caller's request budget
        expect(grant, route.name).toMatch(/ dynamodb:(GetItem|BatchGetItem|Query) /);
      }
    }
  });

  it("no user route may touch the policies or sweep state, nor the audit trail but to record a group owner's recall; no admin route a user's or a group's items", () => {
    for (const route of ROUTES) {
      const grants = grantsOf(route.name);
      if (route.access === 'user') {
        // A revision registers itself while it is carried to a group's members (PutItem) and settles
        // (DeleteItem); a group owner's recall of another's message appends its audit record.
        const revising = REVISING_ROUTES.includes(route.name);
        const revisionGrants = revising
          ? [
              'table dynamodb:BatchGetItem PENDING_REVISIONS',
              'table dynamodb:PutItem PENDING_REVISIONS',
              'table dynamodb:DeleteItem PENDING_REVISIONS',
              ...(route.name === 'recallMessage'
                ? ['audit dynamodb:Query *', 'audit dynamodb:PutItem *']
                : []),
            ]
          : [];
        expect(
          grants.filter(
            (g) =>
              !/ (U#\*|G#\*|POLICY|SHARED_GROUPS|HOLD)$/.test(g) &&
              // Every change puts its event in the outbox (docs/events.md), and nothing else there.
              g !== 'table dynamodb:PutItem EV#*' &&
              g !== 'table dynamodb:UpdateItem B#*' &&
              !revisionGrants.includes(g),
          ),
          route.name,
        ).toEqual([]);
        // The legal holds: read only, by the deletes (under a hold they keep the copies).
        expect(
          grants.filter((g) => g.endsWith(' HOLD') && g !== 'table dynamodb:Query HOLD'),
          route.name,
        ).toEqual([]);
        // The policies: read only, to apply retention.
        expect(
          grants.filter((g) => g.endsWith(' POLICY') && !g.includes('BatchGetItem')),
          route.name,
        ).toEqual([]);
        // The registry of groups in shared mode: a switch adds its group; a member's own retention raises
        // the group's keepDays (read, then a conditional update: conversation-retention.ts); nothing more.
        const registryRaise =
          route.name === 'putConversationRetention' ? /dynamodb:(BatchGetItem|UpdateItem) / : /^$/;
        expect(
          grants.filter(
            (g) => g.endsWith(' SHARED_GROUPS') && !g.includes('PutItem') && !registryRaise.test(g),
          ),
          route.name,
        ).toEqual([]);
      } else {
        // A retention preview counts the copies a policy would delete (Select COUNT) and finds the oldest
        // kept: Query of users' partitions, nothing else of them (docs/compliance.md).
        const previews = PREVIEWING_ROUTES.includes(route.name) ? ['table dynamodb:Query U#*'] : [];
        expect(
          grants.filter((g) => / (U#\*|G#\*)$/.test(g)),
          route.name,
        ).toEqual(previews);
      }
    }
  });

  it("nobody may update or delete in the audit trail; only the admin functions (and a group owner's recall) may append to it or read it", () => {
    const auditArn = JSON.stringify(getAtt(auditTableId));
    const onAudit = allStatements(template).filter((statement) =>
      resourcesOf(statement).some((resource) => JSON.stringify(resource).includes(auditTableId)),
    );
    expect(onAudit.length).toBeGreaterThan(0);
    for (const statement of onAudit) {
      expect(resourcesOf(statement).map((r) => JSON.stringify(r))).toEqual([auditArn]);
      for (const action of actionsOf(statement))
        expect(['dynamodb:Query', 'dynamodb:PutItem']).toContain(action);
    }
    const appenders = FUNCTIONS.filter(([name]) => grantsOf(name).includes('audit dynamodb:PutItem *'));
    expect(appenders.map(([name]) => name).sort()).toEqual([
      'cancelPendingRetention',
      'deleteHold',
      'deleteUserRetention',
      'putHold',
      'putRetention',
      'putUserRetention',
      'recallMessage',
      'replayEvents',
      'startErasure',
      'startExport',
      'startSweep',
    ]);
    const readers = FUNCTIONS.filter(([name]) => grantsOf(name).includes('audit dynamodb:Query *'));
    expect(readers.map(([name]) => name).sort()).toEqual(
      [...appenders.map(([name]) => name), 'listAudit'].sort(),
    );
    // Only they are told its name.
    for (const name of ENTRY_NAMES) {
      const variables = (functionProps(template, name).Environment as { Variables: Record<string, unknown> })
        .Variables;
      expect(variables.AUDIT_TABLE_NAME !== undefined, name).toBe(
        readers.some(([reader]) => reader === name),
      );
    }
  });

  it('no statement grants dynamodb:* or any action on Resource "*" but the X-Ray writes', () => {
    const statements = allStatements(template);
    expect(statements.length).toBeGreaterThan(ENTRY_NAMES.length);
    for (const statement of statements) {
      const actions = actionsOf(statement);
      expect(actions).not.toContain('*');
      expect(actions).not.toContain('dynamodb:*');
      expect(actions.some((action) => action.endsWith(':*'))).toBe(false);
      if (resourcesOf(statement).includes('*')) {
        // X-Ray has no resource-level permissions (acknowledged in infra/nag.ts).
        expect(actions.sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
      }
    }
  });

  it.each(ENTRY_NAMES)(
    '%s has its own role with no managed policies, writing only to its own log group',
    (name) => {
      const id = functionId(template, name);
      const roleId = roleIdOf(template, id);
      const role = template.findResources('AWS::IAM::Role')[roleId];
      expect(role?.Properties?.ManagedPolicyArns).toBeUndefined();
      const logGroup = (functionProps(template, name).LoggingConfig as { LogGroup: { Ref: string } }).LogGroup
        .Ref;
      const logStatements = roleStatements(template, roleId).filter((s) =>
        actionsOf(s).some((a) => a.startsWith('logs:')),
      );
      expect(logStatements).toEqual([
        {
          Effect: 'Allow',
          Action: ['logs:CreateLogStream', 'logs:PutLogEvents'],
          Resource: getAtt(logGroup),
        },
      ]);
      const otherRoles = ENTRY_NAMES.filter((other) => other !== name).map((other) =>
        roleIdOf(template, functionId(template, other)),
      );
      expect(otherRoles).not.toContain(roleId);
    },
  );

  it("only the starters may invoke a function, each its worker's live alias; the export worker and erasure their own", () => {
    const sweepArn = liveAliasArn(functionId(template, 'sweep'));
    const exportArn = liveAliasArn(functionId(template, 'exportWorker'));
    const erasureArn = liveAliasArn(functionId(template, 'erasure'));
    const invoking: Record<string, unknown> = {
      startSweep: sweepArn,
      startExport: exportArn,
      exportWorker: exportArn,
      startErasure: erasureArn,
    };
    for (const name of ENTRY_NAMES) {
      const invokes = statementsOf(name).filter((s) =>
        actionsOf(s).some((action) => action.startsWith('lambda:')),
      );
      if (name in invoking) {
        expect(invokes, name).toEqual([
          { Effect: 'Allow', Action: 'lambda:InvokeFunction', Resource: invoking[name] },
        ]);
      } else if (name === 'erasure') {
        // Its own live alias, by name (a reference to its own ARN would make it depend on itself).
        expect(invokes).toHaveLength(1);
        expect(JSON.stringify(invokes[0]?.Resource)).toContain(functionId(template, 'erasure'));
        expect(JSON.stringify(invokes[0]?.Resource)).toMatch(/:live"/);
      } else {
        expect(invokes, name).toEqual([]);
      }
    }
  });

  it('grants nothing beyond logs, the table, the dead-letter queues (sweep, erasure), the function it starts (startSweep, startExport, startErasure, the export worker, erasure), the export bucket (export routes), X-Ray (traced), and to the sender its queue and the signing secret', () => {
    for (const name of ENTRY_NAMES) {
      const services = new Set(
        statementsOf(name)
          .flatMap(actionsOf)
          .map((action) => action.split(':')[0]),
      );
      const expected = new Set(['logs']);
      if (name !== 'notFound' && !EVENT_FUNCTIONS.includes(name)) expected.add('dynamodb');
      if (name === 'sweep' || name === 'erasure' || name === 'deliverEvents') expected.add('sqs');
      if (name === 'deliverEvents') expected.add('secretsmanager');
      if (['startSweep', 'startExport', 'exportWorker', 'startErasure', 'erasure'].includes(name))
        expected.add('lambda');
      if (['getExport', 'exportWorker'].includes(name)) expected.add('s3');
      if (name === 'sweep' || (TRACED_ROUTES as readonly string[]).includes(name)) expected.add('xray');
      expect(services, name).toEqual(expected);
    }
  });

  it("lets API Gateway invoke each route function's live alias (and health's) from this API only", () => {
    const apiId = onlyResource(template, 'AWS::ApiGatewayV2::Api')[0];
    const permissions = resources(template, 'AWS::Lambda::Permission');
    expect(permissions).toHaveLength(ROUTES.length + 2);
    const aliases = new Set(resources(template, 'AWS::Lambda::Alias').map(([id]) => id));
    for (const [, permission] of permissions) {
      expect(permission.Properties).toMatchObject({
        Action: 'lambda:InvokeFunction',
        Principal: 'apigateway.amazonaws.com',
      });
      const target = permission.Properties?.FunctionName as { Ref?: string } | undefined;
      expect(aliases.has(target?.Ref ?? '')).toBe(true);
      expect(JSON.stringify(permission.Properties?.SourceArn)).toContain(JSON.stringify({ Ref: apiId }));
    }
  });
});

describe('the functions with options', () => {
  let custom: Template;

  beforeAll(() => {
    custom = synthesize({
      props: {
        api: { memorySize: 1024, timeout: Duration.seconds(20) },
        sweep: { memorySize: 2048, timeout: Duration.minutes(10), reservedConcurrency: 4 },
        logRetention: RetentionDays.ONE_WEEK,
        tuning: { purgeShards: 32, policyCacheMs: 0 },
        events: { webhookUrl: 'https://hooks.example.com/roaming/events' },
      },
    }).whole;
  });

  it('applies memory, timeout, concurrency, log retention and tuning', () => {
    const props = (name: string) => functionProps(custom, name);
    expect(props('sendMessage')).toMatchObject({ MemorySize: 1024, Timeout: 20 });
    expect(props('notFound')).toMatchObject({ MemorySize: 1024, Timeout: 20 });
    expect(props('sweep')).toMatchObject({ MemorySize: 2048, Timeout: 600, ReservedConcurrentExecutions: 4 });
    for (const name of ENTRY_NAMES) {
      expect(props(name).Environment, name).toMatchObject({
        Variables: { ROAMING_PURGE_SHARDS: '32', ROAMING_POLICY_CACHE_MS: '0' },
      });
    }
    for (const [, group] of resources(custom, 'AWS::Logs::LogGroup')) {
      expect(group.Properties).toMatchObject({ RetentionInDays: 7 });
    }
  });
});
