import '../local/quiet-warnings.js';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from '../infra/paths.js';
import { benchColdStart, type ColdStartFigures } from './cold-start.js';
import { benchEvents, type EventFigures } from './events.js';
import { benchExport, type ExportFigures } from './export.js';
import { benchHotItems, type HotItemFigure } from './hot-items.js';
import { benchLargeGroups, type LargeGroupFigures } from './large-groups.js';
import { benchRecallEdit, type RevisionFigure } from './recall-edit.js';
import { benchRequests, type OperationFigure } from './requests.js';
import { benchRetentionPreview, type PreviewFigure } from './retention-preview.js';
import { runBenchmarks } from './setup.js';
import { formatSpread, rounded } from './stats.js';
import { benchSweep, type SweepFigures } from './sweep.js';

/**
 * `npm run bench`: every benchmark in turn, then a summary (ratios first, each next to the floor it was
 * measured against in the same run), written to bench/results/latest.json. Figures only; nothing here
 * asserts a speed. bench/README.md explains each figure.
 */
export interface BenchResults {
  date: string;
  machine: { node: string; cpus: number; cpuModel: string; memoryGiB: number };
  summary: SummaryRow[];
  requests: OperationFigure[];
  coldStart: ColdStartFigures;
  sweep: SweepFigures;
  retentionPreview: PreviewFigure[];
  hotItems: HotItemFigure[];
  largeGroups: LargeGroupFigures;
  recallEdit: RevisionFigure[];
  events: EventFigures;
  exports: ExportFigures;
}

/** One line of the summary: a figure, what it is measured against, and the ratio or the count. */
export interface SummaryRow {
  figure: string;
  value: string;
  against: string;
}

/** The operations the summary shows, by the label bench/requests.ts gives them. */
const SUMMARY_OPERATIONS = [
  'history page (pageSize 20), single chat',
  'history page (pageSize 20), group',
  'conversation list page (limit 20)',
  'incremental sync (?since=), 3 conversations changed',
  'idle sync (?since=), nothing changed',
  'send, single chat',
];

runBenchmarks(async function everyBenchmark() {
  console.log('== DynamoDB requests per operation');
  const requests = await benchRequests();
  console.log('\n== Cold start');
  const coldStart = await benchColdStart();
  console.log('\n== Retention sweep');
  const sweep = await benchSweep();
  console.log('\n== Retention preview: read units');
  const retentionPreview = await benchRetentionPreview();
  console.log('\n== Hot items under transaction conflicts');
  const hotItems = await benchHotItems();
  console.log('\n== Large groups: a send at each group size');
  const largeGroups = await benchLargeGroups();
  console.log('\n== Recall and edit: one revision in a single chat and in groups');
  const recallEdit = await benchRecallEdit();
  console.log('\n== Events: delivery against sends, and what the outbox adds to a send');
  const events = await benchEvents();
  console.log('\n== Export throughput');
  const exports = await benchExport();
  const results: BenchResults = rounded({
    date: new Date().toISOString(),
    machine: {
      node: process.version,
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryGiB: Math.round(totalmem() / 2 ** 30),
    },
    summary: [
      ...summarize(requests, coldStart, sweep, hotItems, largeGroups),
      ...retentionPreview.map((figure) => ({
        figure: `retention preview, ${figure.label}`,
        value: `${figure.readUnits.toFixed(1)} RU`,
        against: `${figure.copies} copies due, ${figure.method}`,
      })),
      ...recallEditRows(recallEdit),
      ...eventRows(events),
      exportRow(exports),
    ],
    requests,
    coldStart,
    sweep,
    retentionPreview,
    hotItems,
    largeGroups,
    recallEdit,
    events,
    exports,
  });
  console.log(`\n== Summary (${results.date}, Node ${results.machine.node}, ${results.machine.cpus} CPUs)`);
  const width = Math.max(...results.summary.map((row) => row.figure.length));
  for (const row of results.summary) {
    console.log(`  ${row.figure.padEnd(width)}  ${row.value.padEnd(26)}  ${row.against}`);
  }
  const dir = join(PROJECT_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
  console.log('\nWritten to bench/results/latest.json');
});

function summarize(
  requests: readonly OperationFigure[],
  coldStart: ColdStartFigures,
  sweep: SweepFigures,
  hotItems: readonly HotItemFigure[],
  largeGroups: LargeGroupFigures,
): SummaryRow[] {
  const rows: SummaryRow[] = [
    {
      figure: 'sweep / raw BatchWriteItem of the same copies',
      value: `${formatSpread(sweep.ratioSpread)}×`,
      against:
        `median of ${sweep.rounds.length} rounds (${sweep.rounds.map((round) => round.ratio.toFixed(2)).join(', ')}): ` +
        `${sweep.sweepRate.toFixed(0)} against ${sweep.rawRate.toFixed(0)} deletes/s (${sweep.copiesDeleted} copies, ${sweep.workers} workers); ` +
        `against fresh small items ${sweep.freshItemsRatio.toFixed(2)}×`,
    },
  ];
  for (const name of SUMMARY_OPERATIONS) {
    const figure = requests.find((operation) => operation.operation === name);
    if (!figure) continue;
    rows.push({
      figure: name,
      value: `${figure.roundTrips} round trip${figure.roundTrips === 1 ? '' : 's'}, ${figure.requests} request${figure.requests === 1 ? '' : 's'}`,
      against: Object.entries(figure.byCommand)
        .map(([command, n]) => `${command} ${n}`)
        .join(', '),
    });
  }
  for (const operation of ['read ack leaving', 'delete before a time hiding']) {
    const at = (unread: number) =>
      requests.find((figure) => figure.operation.startsWith(`${operation} ${unread} `));
    const few = at(10);
    const many = at(10_000);
    if (!few || !many) continue;
    rows.push({
      figure: `${operation} 10,000 unread / 10`,
      value: `${(many.readUnits / few.readUnits).toFixed(2)}× read units`,
      against: `${many.readUnits.toFixed(1)} against ${few.readUnits.toFixed(1)} RCU; ${many.requests} against ${few.requests} requests`,
    });
  }
  for (const send of largeGroups.sends) {
    rows.push({
      figure: `send, group of ${send.members.toLocaleString('en-US')} (${send.mode})`,
      value: `${send.writeUnits.toFixed(1)} WCU, ${send.requests} requests`,
      against: `$${send.dollarsPerMillion.toFixed(2)} of on-demand writes per million sends`,
    });
  }
  rows.push({
    figure: 'list page, a user in 100 large groups',
    value: `${largeGroups.listIn100.roundTrips} round trips, ${largeGroups.listIn100.requests} requests`,
    against: `${largeGroups.listIn100.conversations} conversations on the page`,
  });
  rows.push({
    figure: 'history page, a member of a group of 5,000',
    value: `${largeGroups.historyPage.roundTrips} round trip, ${largeGroups.historyPage.requests} requests`,
    against: 'the member item, their partition and the shared history, together',
  });
  for (const hot of hotItems) {
    rows.push({
      figure: `sends to ${hot.scenario}`,
      value: `${hot.sendsPerSecond.toFixed(1)} sends/s`,
      against: `${hot.cancelledPerSend.toFixed(2)} transactions cancelled, ${hot.retriesPerSend.toFixed(2)} retries and ${hot.refusedPerSend.toFixed(2)} inbound 429s per send; ${hot.gaveUp} gave up`,
    });
  }
  const worst = [...coldStart.bundles].sort((a, b) => b.ratio.median - a.ratio.median);
  for (const bundle of worst) {
    rows.push({
      figure: `cold start ${bundle.name}`,
      value: `${formatSpread(bundle.ratio)}×`,
      against:
        `${bundle.importMs.median.toFixed(1)} against ${coldStart.floor.importMs.median.toFixed(1)} ms (bare client), ${(bundle.bytes / 1024).toFixed(0)} KB; ` +
        `${formatSpread(bundle.ratioToEnvOnlyFloor)}× the bare client with environment credentials only`,
    });
  }
  const maps = coldStart.sourceMaps;
  rows.push({
    figure: 'cold start with --enable-source-maps',
    value: `${formatSpread(maps.importRatio)}×`,
    against: `first 500: ${maps.firstErrorMsWith.median.toFixed(1)} against ${maps.firstErrorMsWithout.median.toFixed(1)} ms without (not enabled)`,
  });
  return rows;
}

/** One row per conversation the issue names (a single chat, a group of 200): its recall and its edit. */
function recallEditRows(figures: readonly RevisionFigure[]): SummaryRow[] {
  const rows: SummaryRow[] = [];
  for (const members of [2, 200]) {
    const recall = figures.find((figure) => figure.members === members && figure.kind === 'recall');
    const edit = figures.find((figure) => figure.members === members && figure.kind === 'edit');
    if (!recall || !edit) continue;
    rows.push({
      figure: `recall / edit, ${recall.conversation}${recall.mode === 'fan-out' ? ' (fan-out)' : ''}`,
      value: `${recall.writeUnits.toFixed(1)} / ${edit.writeUnits.toFixed(1)} WCU, ${recall.requests} / ${edit.requests} requests`,
      against:
        `$${recall.dollarsPerMillion.toFixed(2)} / $${edit.dollarsPerMillion.toFixed(2)} of on-demand writes per million; ` +
        `${recall.roundTrips} / ${edit.roundTrips} round trips`,
    });
  }
  return rows;
}

/** Events delivered per second against sends per second (target: at least 0.9), and the outbox's cost. */
function eventRows(figures: EventFigures): SummaryRow[] {
  return [
    {
      figure: 'events delivered / sends accepted, per second',
      value: `${figures.ratio.toFixed(2)}×`,
      against: `${figures.eventsPerSecond.toFixed(0)} against ${figures.sendsPerSecond.toFixed(0)} per second (${figures.sends} sends in ${figures.conversations} single chats, npm start's pipeline, a local receiver)`,
    },
    {
      figure: 'write units the event adds to a send',
      value: `${figures.addedWriteUnits} WCU`,
      against: `of ${figures.sendWriteUnits.toFixed(1)} WCU for a single-chat send (the event item: ${figures.eventItemBytes} bytes, in the send's transaction)`,
    },
  ];
}

/** Export throughput against a raw Query of the same copies (target: at least 0.8). */
function exportRow(exports: ExportFigures): SummaryRow {
  return {
    figure: 'export / raw Query of the same copies',
    value: `${formatSpread(exports.ratioSpread)}×`,
    against:
      `median of ${exports.rounds.length} rounds (${exports.rounds.map((round) => round.ratio.toFixed(2)).join(', ')}): ` +
      `${exports.exportRate.toFixed(0)} against ${exports.rawRate.toFixed(0)} copies/s (${exports.copies} copies)`,
  };
}
