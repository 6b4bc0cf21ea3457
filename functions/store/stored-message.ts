import type { Message } from '../core/model.js';

/**
 * A message as stored. DynamoDB cannot hold every JSON value a client may send (numbers beyond its
 * range or precision, nesting deeper than 32 levels), so `body` and `ext` are kept as JSON text: any
 * valid request is stored and returned exactly as sent, never refused by the store with a 500.
 */
export type StoredMessage = Omit<Message, 'body' | 'ext'> & { body?: string; ext?: string };

export function toStoredMessage(message: Message): StoredMessage {
  const { body, ext, ...rest } = message;
  return {
    ...rest,
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    ...(ext !== undefined ? { ext: JSON.stringify(ext) } : {}),
  };
}

export function fromStoredMessage(stored: StoredMessage): Message {
  const { body, ext, ...rest } = stored;
  return {
    ...rest,
    ...(body !== undefined ? { body: JSON.parse(body) } : {}),
    ...(ext !== undefined ? { ext: JSON.parse(ext) } : {}),
  };
}
