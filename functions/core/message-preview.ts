import type { Message } from './model.js';

/**
 * The bounded preview of a message that conversation items (and their index copies and mark entries)
 * keep as their latest message: at most about 1 KB whatever the message, so a list page costs the
 * same for every conversation and a send does not copy a large body into every member's list.
 * History returns the full message.
 */
export const PREVIEW_TEXT_CHARACTERS = 200;
const PREVIEW_BODY_BYTES = 512;
const PREVIEW_EXT_BYTES = 256;

/** A message as a list shows it: `truncated` is set when its body or ext was cut. */
export type MessagePreview = Message & { truncated?: true };

/** Previews by message: a group send applies one message to every member (messages are never mutated). */
const previews = new WeakMap<Message, MessagePreview>();

export function previewOf(message: Message): MessagePreview {
  let preview = previews.get(message);
  if (preview === undefined) {
    preview = buildPreview(message);
    previews.set(message, preview);
  }
  return preview;
}

function buildPreview(message: Message): MessagePreview {
  const { body, ext, ...rest } = message;
  // A recalled message's tombstone has nothing to cut.
  if (body === undefined) return { ...rest };
  let truncated = false;
  let previewBody: Record<string, unknown>;
  if (message.type === 'text' && typeof body.text === 'string') {
    const characters = [...body.text];
    previewBody = { text: characters.slice(0, PREVIEW_TEXT_CHARACTERS).join('') };
    truncated = characters.length > PREVIEW_TEXT_CHARACTERS || Object.keys(body).length > 1;
  } else if (jsonBytes(body) <= PREVIEW_BODY_BYTES) {
    previewBody = body;
  } else {
    previewBody = {};
    truncated = true;
  }
  const keepExt = ext !== undefined && jsonBytes(ext) <= PREVIEW_EXT_BYTES;
  if (ext !== undefined && !keepExt) truncated = true;
  return {
    ...rest,
    body: previewBody,
    ...(keepExt ? { ext } : {}),
    ...(truncated ? { truncated: true } : {}),
  };
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}
