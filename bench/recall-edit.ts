import { pathToFileURL } from 'node:url';
import type { ChatType } from '../functions/core/model.js';
import type { Deps } from '../functions/domain/deps.js';
import { createGroup } from '../functions/domain/groups.js';
import { type Revision, reviseMessage } from '../functions/domain/revise.js';
import { sendMessage } from '../functions/domain/send.js';
import { roundTripCounter } from '../test/support/round-trips.js';
import { DOLLARS_PER_MILLION_WRITE_UNITS } from './large-groups.js';
import { formatCounts, runBenchmarks, startBenchStore } from './setup.js';

/**
 * Recall and edit (issue 25): what one recall and one edit cost, through the domain function the
 * routes call, in a single chat, a group of 200 (fan-out: one copy per member) and a group of 201 (shared
 * history). Each revises the conversation's latest message, sent just before, still unread by everyone
 * but its sender: the common case (a sender taking back or correcting what they just sent), and the
 * dearest, since every side's preview and unread change with it.
 */
export interface RevisionFigure {
  conversation: string;
  members: number;
  mode: 'single' | 'fan-out' | 'shared';
  kind: Revision['kind'];
  requests: number;
  byCommand: Record<string, number>;
  roundTrips: number;
  writeUnits: number;
  readUnits: number;
  /** On-demand write request units for 1,000,000 such revisions, in US dollars. */
  dollarsPerMillion: number;
}

/** The conversations measured: a single chat (2 participants) and groups either side of the threshold. */
const CONVERSATIONS: readonly { members: number; chatType: ChatType }[] = [
  { members: 2, chatType: 'single' },
  { members: 200, chatType: 'group' },
  { members: 201, chatType: 'group' },
];

export async function benchRecallEdit(): Promise<RevisionFigure[]> {
  const trips = roundTripCounter();
  const store = await startBenchStore({}, (client) => trips.wrap(client));
  const { deps, requests } = store;
  const figures: RevisionFigure[] = [];
  try {
    console.log(
      `  ${'conversation'.padEnd(22)} ${'revision'.padEnd(9)} ${'requests'.padEnd(9)} ${'trips'.padEnd(6)} ${'WCU'.padEnd(8)} ${'RCU'.padEnd(7)} $ per million`,
    );
    for (const { members, chatType } of CONVERSATIONS) {
      const conversation = await conversationOf(deps, chatType, members);
      // A warm-up send and edit: the first revision in a process reads what later ones find cached.
      const warm = await conversation.send();
      await reviseMessage(deps, conversation.ref, warm, { kind: 'edit', body: { text: 'warm, edited' } });
      for (const revision of [
        { kind: 'recall' },
        { kind: 'edit', body: { text: 'bench, edited' } },
      ] satisfies Revision[]) {
        const msgId = await conversation.send();
        requests.reset();
        trips.reset();
        await reviseMessage(deps, conversation.ref, msgId, revision);
        const figure: RevisionFigure = {
          conversation: conversation.label,
          members,
          mode:
            chatType === 'single'
              ? 'single'
              : members > deps.config.sharedHistoryAbove
                ? 'shared'
                : 'fan-out',
          kind: revision.kind,
          requests: requests.total(),
          byCommand: { ...requests.byCommand },
          roundTrips: trips.roundTrips,
          writeUnits: requests.writeUnits,
          readUnits: requests.readUnits,
          dollarsPerMillion: requests.writeUnits * DOLLARS_PER_MILLION_WRITE_UNITS,
        };
        figures.push(figure);
        console.log(
          `  ${figure.conversation.padEnd(22)} ${figure.kind.padEnd(9)} ${String(figure.requests).padEnd(9)} ${String(figure.roundTrips).padEnd(6)} ${figure.writeUnits.toFixed(1).padEnd(8)} ${figure.readUnits.toFixed(1).padEnd(7)} ${figure.dollarsPerMillion.toFixed(2)}`,
        );
      }
    }
    console.log('  by command:');
    for (const figure of figures) {
      console.log(`    ${figure.conversation}, ${figure.kind}: ${formatCounts(figure.byCommand)}`);
    }
    return figures;
  } finally {
    await store.stop();
  }
}

interface BenchConversation {
  label: string;
  /** The sender's side: the sender revises their own messages. */
  ref: { owner: string; chatType: ChatType; convId: string };
  /** Sends a text from the sender; its msgId. */
  send(): Promise<string>;
}

/** A single chat, or a group of `members` made by its owner in one creation (who then sends in it). */
async function conversationOf(deps: Deps, chatType: ChatType, members: number): Promise<BenchConversation> {
  const sender = `${chatType}${members}-sender`;
  let to = `${chatType}${members}-peer`;
  if (chatType === 'group') {
    const others = Array.from({ length: members - 1 }, (_, i) => `${chatType}${members}-member-${i}`);
    to = (await createGroup(deps, sender, { members: others })).groupId;
  }
  return {
    label: chatType === 'single' ? 'single chat' : `group of ${members}`,
    ref: { owner: sender, chatType, convId: to },
    async send() {
      const message = await sendMessage(deps, sender, {
        to,
        chatType,
        type: 'text',
        body: { text: 'bench' },
      });
      return message.msgId;
    },
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href)
  runBenchmarks(async () => {
    await benchRecallEdit();
  });
