import { Agent, request as httpRequest } from 'node:http';
import type { WireResponse } from '../support/route-requests.js';
import type { WireRequest } from './requests.js';

/**
 * Sends a request exactly as built, which fetch would not: a GET with a body, any content type, a path
 * with whatever percent-encoding the fuzzer chose. Only what HTTP itself cannot carry in a request line
 * (spaces, controls, non-ASCII) is percent-encoded, as any client would.
 */
const agent = new Agent({ keepAlive: true, maxSockets: 4 });

export function sendWire(baseUrl: string, request: WireRequest): Promise<WireResponse> {
  const base = new URL(baseUrl);
  const body = request.body === undefined ? undefined : Buffer.from(request.body, 'utf8');
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        agent,
        host: base.hostname,
        port: base.port,
        method: request.method,
        path: requestTarget(request.url),
        headers: { ...request.headers, ...(body ? { 'content-length': String(body.length) } : {}) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const headers: Record<string, string> = {};
          for (const [key, value] of Object.entries(res.headers)) {
            if (value !== undefined) headers[key] = Array.isArray(value) ? value.join(', ') : value;
          }
          resolve({ status: res.statusCode ?? 0, headers, text: Buffer.concat(chunks).toString('utf8') });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Percent-encodes each UTF-8 byte of `text` except unreserved characters (lone surrogates become U+FFFD). */
export function percentEncode(text: string): string {
  let out = '';
  for (const byte of Buffer.from(text, 'utf8')) {
    const c = String.fromCharCode(byte);
    out += /[A-Za-z0-9\-._~]/.test(c) ? c : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** What a request line can carry: printable ASCII as is, anything else percent-encoded. */
/** The request target as it goes on the wire: bytes outside printable ASCII percent-encoded. */
export function requestTarget(url: string): string {
  let out = '';
  for (const c of url) out += c > ' ' && c <= '~' ? c : percentEncode(c);
  return out;
}
