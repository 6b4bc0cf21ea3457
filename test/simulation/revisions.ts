import type { ConversationRef, Message } from '../../functions/core/model.js';
import { reviseMessage } from '../../functions/domain/revise.js';
import type { Dice } from '../support/prng.js';
import { classify, type RevisionRecord, type SendRecord, type SimulationLog } from './log.js';
import type { World } from './world.js';

/**
 * Recall and edit in the simulation (docs/recall-and-edit.md): senders recall or edit messages of theirs
 * that were acknowledged (some past the recall window: 409), the group's owner recalls anyone's, some
 * attempts crashing at one of their commands and retried later (a group revision left pending is carried
 * on by its retry). The oracle (checkRevisions) then holds every history, list, device and the table
 * itself to them: no recalled body anywhere, no text an acknowledged edit replaced.
 */

/** A user's session of recalls and edits, minutes apart (its dice are not the world's). */
export async function reviser(world: World, log: SimulationLog, dice: Dice, operations: number) {
  for (let i = 0; i < operations; i++) {
    world.clock.advance(dice.int(800));
    const failed = log.revisions.filter((r) => r.answer === undefined && r.lastStep > 0);
    // A client retries a failed revision as it was (an edit with the same text).
    if (failed.length > 0 && dice.chance(0.3)) await attempt(world, log, dice, dice.pick(failed));
    else await revise(world, log, dice);
  }
}

async function revise(world: World, log: SimulationLog, dice: Dice): Promise<void> {
  const by = dice.pick(world.users);
  // Their own acknowledged messages; the group's owner may recall any of the group's.
  const candidates = log.sends.filter(
    (s) =>
      s.message !== undefined &&
      (s.from === by || (by === world.groupOwner && s.chatType === 'group' && s.to === world.groupId)),
  );
  if (candidates.length === 0) return;
  const send = dice.pick(candidates);
  const message = send.message as Message;
  const kind = send.from === by && dice.chance(0.6) ? 'edit' : 'recall';
  const n = log.revisions.length;
  const record: RevisionRecord = {
    kind,
    by,
    msgId: message.msgId,
    send,
    ...(kind === 'edit' ? { text: `s${world.seed}-e${n}` } : {}),
    startStep: world.scheduler.step,
    lastStep: 0,
  };
  log.revisions.push(record);
  if (kind === 'edit') log.counts.edits++;
  else log.counts.recalls++;
  await attempt(world, log, dice, record);
}

async function attempt(world: World, log: SimulationLog, dice: Dice, record: RevisionRecord): Promise<void> {
  const deps = dice.pick(world.instances).deps;
  const ref = callerSide(record.send, record.by);
  const fault = dice.chance(0.2)
    ? {
        at: dice.int(record.send.chatType === 'single' ? 2 : 6),
        when: dice.pick(['before', 'after'] as const),
      }
    : undefined;
  const revision =
    record.kind === 'recall'
      ? ({ kind: 'recall' } as const)
      : ({ kind: 'edit', body: { text: record.text as string } } as const);
  const { tag, done } = world.scheduler.start(
    record.kind,
    () => reviseMessage(deps, ref, record.msgId, revision),
    fault,
  );
  try {
    record.answer = await done;
    log.counts.revisionsAnswered++;
  } catch (error) {
    classify(log, record.kind, error);
  }
  record.lastStep = Math.max(tag.lastStep, world.scheduler.step, record.lastStep);
}

/** The reviser's side of the conversation the send went to. */
function callerSide(send: SendRecord, by: string): ConversationRef {
  if (send.chatType === 'group') return { owner: by, chatType: 'group', convId: send.to };
  return { owner: by, chatType: 'single', convId: by === send.from ? send.to : send.from };
}

/**
 * What the log says a message must look like now: recalled (an acknowledged recall), or edited at least
 * `minEdits` times (the highest count an acknowledged edit answered), and the texts it may show (its
 * original before any acknowledged edit, and every edit not yet superseded by an acknowledged one).
 */
export function expectedRevision(
  log: SimulationLog,
  msgId: string,
): { recalled: boolean; minEdits: number; texts: Set<string>; attempted: boolean } {
  const revisions = log.revisions.filter((r) => r.msgId === msgId);
  const recalled = revisions.some((r) => r.kind === 'recall' && r.answer !== undefined);
  const minEdits = Math.max(
    0,
    ...revisions.filter((r) => r.kind === 'edit' && r.answer).map((r) => r.answer?.edited?.count ?? 0),
  );
  const acked = revisions.find((r) => r.kind === 'edit' && r.answer?.edited?.count === minEdits);
  const texts = new Set<string>();
  if (minEdits === 0) {
    const send = log.sends.find((s) => s.message?.msgId === msgId);
    if (send) texts.add(send.text);
  }
  if (acked?.text) texts.add(acked.text);
  // Edits whose last attempt ended after the acknowledged one started may have landed after it (a
  // client's retry of an older edit included): their texts are allowed too.
  for (const r of revisions) {
    if (r.kind === 'edit' && r.text && (acked === undefined || r.lastStep >= acked.startStep))
      texts.add(r.text);
  }
  return { recalled, minEdits, texts, attempted: revisions.length > 0 };
}
