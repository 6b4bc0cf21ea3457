import { batchWriteChunks, type Db, type WriteRequest, writeChunkUntilDone } from './db.js';

/**
 * A fixed number of BatchWriteItem streams shared by whoever writes through it (the workers of one sweep
 * invocation): each write is cut into calls of 25 that queue first come, first served, and at most
 * `streams` calls are in flight at any time. So the calls in flight stay at that number while any
 * writer has work queued, and a writer busy reading leaves its share of the streams to the others.
 */
export interface WritePipe {
  /** Writes every request (retrying UnprocessedItems through `db`); resolves once all are written. */
  write(db: Db, requests: readonly WriteRequest[]): Promise<void>;
}

interface Call {
  db: Db;
  chunk: WriteRequest[];
  done(): void;
  failed(error: unknown): void;
}

export function createWritePipe(
  streams: number,
  /** Runs before each call is sent: a rate limit waits here. */
  beforeCall: (chunk: readonly WriteRequest[]) => Promise<void> | void = () => undefined,
): WritePipe {
  const queue: Call[] = [];
  let inFlight = 0;
  function pump(): void {
    while (inFlight < streams && queue.length > 0) {
      const call = queue.shift() as Call;
      inFlight++;
      send(call).finally(() => {
        inFlight--;
        pump();
      });
    }
  }
  async function send(call: Call): Promise<void> {
    try {
      await beforeCall(call.chunk);
      await writeChunkUntilDone(call.db, call.chunk);
      call.done();
    } catch (error) {
      call.failed(error);
    }
  }
  return {
    async write(db, requests) {
      const calls = batchWriteChunks(requests).map(
        (chunk) => new Promise<void>((done, failed) => queue.push({ db, chunk, done, failed })),
      );
      pump();
      await Promise.all(calls);
    },
  };
}
