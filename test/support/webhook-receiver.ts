import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RoamingEvent } from '../../functions/events/event.js';
import { EVENT_ID_HEADER, hasValidSignature, SIGNATURE_HEADER } from '../../functions/events/signing.js';

/** What the receiver does with the next request: answer 200, refuse with 500, or never answer. */
export type ReceiverMood = 'accept' | 'refuse' | 'hang';

export interface Received {
  event: RoamingEvent;
  raw: string;
  headerId: string | undefined;
  signature: string | undefined;
  signed: boolean;
}

/**
 * An app's webhook receiver, for tests: a real HTTP server on loopback that checks each request's
 * signature and keeps what it accepted (in arrival order). `moods` decides each request's fate in turn,
 * then `accept` for the rest.
 */
export async function startWebhookReceiver(secret: string, moods: ReceiverMood[] = []) {
  const accepted: Received[] = [];
  let requests = 0;
  const hanging: IncomingMessage[] = [];
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const mood = moods[requests++] ?? 'accept';
      if (mood === 'hang') {
        hanging.push(request);
        return;
      }
      if (mood === 'refuse') {
        response.writeHead(500).end();
        return;
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      const header = request.headers[SIGNATURE_HEADER];
      accepted.push({
        event: JSON.parse(raw) as RoamingEvent,
        raw,
        headerId: request.headers[EVENT_ID_HEADER] as string | undefined,
        signature: typeof header === 'string' ? header : undefined,
        signed: hasValidSignature(secret, raw, typeof header === 'string' ? header : undefined),
      });
      response.writeHead(204).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/events`,
    accepted,
    get requests() {
      return requests;
    },
    /** Each event id once, in the order first accepted (what a receiver that de-duplicates keeps). */
    distinct(): RoamingEvent[] {
      const seen = new Map<string, RoamingEvent>();
      for (const received of accepted)
        if (!seen.has(received.event.id)) seen.set(received.event.id, received.event);
      return [...seen.values()];
    },
    async close() {
      for (const request of hanging) request.socket.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
