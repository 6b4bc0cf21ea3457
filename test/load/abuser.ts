import os from 'node:os';
import type { SentMessage } from './ledger.js';

/**
 * One user sending flat out, as a misbehaving client or a spammer does: `concurrency` sends always in
 * flight, one after another to every other user in turn, Retry-After ignored (a refused send is followed
 * at once by the next). Its messages are real: those accepted go into the ledger (`accepted`, times on
 * the wall clock: `Date.now()`-like, as the abuser runs in a worker), so the check after the run holds
 * the victims' copies of them too.
 */
export interface AbuserOutcome {
  tried: number;
  accepted: SentMessage[];
  rateLimited: number;
  /** Texts of sends with no clear answer: they may or may not have been accepted. */
  uncertainTexts: string[];
  other: Map<string, number>;
}

export interface AbuserOptions {
  baseUrl: string;
  user: string;
  token: string;
  victims: readonly string[];
  /** Wall-clock ms (performance.timeOrigin + performance.now()) to stop at. */
  deadline: number;
  concurrency: number;
}

const wallNow = () => performance.timeOrigin + performance.now();

export async function runAbuser(options: AbuserOptions): Promise<AbuserOutcome> {
  const outcome: AbuserOutcome = {
    tried: 0,
    accepted: [],
    rateLimited: 0,
    uncertainTexts: [],
    other: new Map(),
  };
  const { baseUrl, user, token, victims } = options;
  let next = 0;
  async function sendFlatOut(): Promise<void> {
    while (wallNow() < options.deadline) {
      const n = next++;
      const to = victims[n % victims.length] as string;
      const text = `${user} spams ${n}`;
      outcome.tried++;
      const sentAt = wallNow();
      try {
        const response = await fetch(new URL('/v1/messages', baseUrl), {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
          body: JSON.stringify({ to, chatType: 'single', type: 'text', body: { text } }),
          signal: AbortSignal.timeout(30_000),
        });
        const answer = (await response.json().catch(() => ({}))) as {
          message?: { msgId: string; timestamp: number };
          error?: { code?: string };
        };
        if (response.status === 201 && answer.message) {
          const { msgId, timestamp } = answer.message;
          outcome.accepted.push({
            msgId,
            from: user,
            chatType: 'single',
            to,
            timestamp,
            sentAt,
            ackAt: wallNow(),
          });
        } else if (response.status === 429 && answer.error?.code === 'rate_limited') {
          outcome.rateLimited++;
        } else {
          count(outcome.other, String(response.status));
          // A throttled or failed send may have been written after all.
          if (response.status >= 500 || response.status === 429) outcome.uncertainTexts.push(text);
        }
      } catch (error) {
        count(outcome.other, (error as Error).name === 'TimeoutError' ? 'timeout' : 'network');
        outcome.uncertainTexts.push(text);
      }
    }
  }
  await Promise.all(Array.from({ length: options.concurrency }, sendFlatOut));
  return outcome;
}

function count(counts: Map<string, number>, key: string): void {
  counts.set(key, (counts.get(key) ?? 0) + 1);
}

export function describeAbuser(outcome: AbuserOutcome, seconds: number): string {
  const other = [...outcome.other].map(([what, n]) => `${what}×${n}`).join(' ') || 'none';
  return (
    `abuser: ${outcome.tried} sends tried (${(outcome.tried / seconds).toFixed(1)}/s), ` +
    `${outcome.accepted.length} accepted (${(outcome.accepted.length / seconds).toFixed(1)}/s), ` +
    `${outcome.rateLimited} refused 429 rate_limited, other answers: ${other}`
  );
}

/**
 * Runs the abuser in a process of its own at the lowest CPU priority, as close to a client on another
 * machine as one machine gets: its requests cost the service what they cost it, not the client's work on
 * the service's event loop or cores too.
 */
export async function runAbuserInProcess(options: AbuserOptions): Promise<AbuserOutcome> {
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const script = fileURLToPath(new URL('./abuser-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ROAMING_ABUSER: JSON.stringify(options) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  // Its own work yields the CPU to the service's: on one machine the client would otherwise take the
  // cores the service runs on, which a client on another machine does not.
  if (child.pid !== undefined) os.setPriority(child.pid, 19);
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
  });
  // 'close', not 'exit': only then has all of its stdout (the whole outcome, tens of KB) been read.
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  });
  if (code !== 0) throw new Error(`the abuser's process ended with exit code ${code}`);
  const parsed = JSON.parse(output) as Omit<AbuserOutcome, 'other'> & { other: [string, number][] };
  return { ...parsed, other: new Map(parsed.other) };
}
