import { PayloadTooLargeError } from '../core/errors.js';
import type { MessageType, SendRequest } from '../core/model.js';

/**
 * How large a message may be, per type, in the range the field uses (Tencent IM: 12 KB a message;
 * Easemob: 5,000 characters of text). Media types carry a URL and metadata, not the media. Beyond a
 * limit the send is a 413 naming it. Every copy of a message costs its size in write units, once per
 * member, so these bound what one send can cost.
 */
export const MAX_TEXT_CHARACTERS = 5_000;

/** Bytes of JSON `body` and `ext` may take together, per type. */
export const MAX_CONTENT_BYTES: Record<MessageType, number> = {
  text: 12 * 1024,
  custom: 12 * 1024,
  image: 4 * 1024,
  audio: 4 * 1024,
  video: 4 * 1024,
  file: 4 * 1024,
  location: 2 * 1024,
};

/** Bytes of JSON `body` and `ext` together: what each copy of the message carries. */
export function contentBytes(input: Pick<SendRequest, 'body' | 'ext'>): number {
  return (
    Buffer.byteLength(JSON.stringify(input.body)) +
    (input.ext ? Buffer.byteLength(JSON.stringify(input.ext)) : 0)
  );
}

/**
 * What a send that writes `copies` copies of this message costs in copy units (the `sendCopies`
 * limit): one per copy per started KB of content, so a send's charge follows the write units it asks.
 */
export function copyUnits(input: Pick<SendRequest, 'body' | 'ext'>, copies: number): number {
  return copies * Math.max(1, Math.ceil(contentBytes(input) / 1024));
}

export function checkMessageSize(input: SendRequest): void {
  if (input.type === 'text' && typeof input.body.text === 'string') {
    const characters = [...input.body.text].length;
    if (characters > MAX_TEXT_CHARACTERS) {
      throw new PayloadTooLargeError(
        `body.text: a text message holds at most ${MAX_TEXT_CHARACTERS} characters (this one has ${characters})`,
      );
    }
  }
  const bytes = contentBytes(input);
  const limit = MAX_CONTENT_BYTES[input.type];
  if (bytes > limit) {
    throw new PayloadTooLargeError(
      `body: a ${input.type} message holds at most ${limit} bytes of JSON in body and ext together (this one has ${bytes})`,
    );
  }
}
