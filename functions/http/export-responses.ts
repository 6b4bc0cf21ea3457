import * as z from 'zod/mini';
import { lazy } from '../core/lazy.js';
import type { ExportView } from '../domain/export-job.js';
import { described, id, integer, msgId, named } from './schemas.js';

/** The answers of the export routes (functions/handlers/exports.ts). */

export const exportViewSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      exportId: described(msgId(), 'A ULID'),
      userId: described(id(), 'Whose data it copies'),
      includeHidden: described(z.boolean(), 'Copies hidden from the user are in it too, each saying why'),
      status: z.enum(['running', 'done', 'failed']),
      conversations: described(integer(z.minimum(0)), 'Conversation lines written so far'),
      copies: described(integer(z.minimum(0)), 'Message lines written so far'),
      bytes: described(integer(z.minimum(0)), 'Bytes of NDJSON written so far'),
      parts: described(integer(z.minimum(0)), 'Parts written so far (joined into one file at the end)'),
      startedBy: described(id(), "The admin's `sub`"),
      startedAt: integer(),
      updatedAt: integer(),
      finishedAt: z.optional(integer()),
      location: z.optional(
        described(
          z.string(),
          'Once done: where the NDJSON file is (deployed: a presigned S3 URL; `npm start`: a path of this server, ' +
            'fetched with an admin token)',
        ),
      ),
      locationExpiresAt: z.optional(described(integer(), 'When a presigned `location` stops working (ms)')),
      error: z.optional(described(z.string(), 'Why the last attempt failed (a running export is retried)')),
    }),
    { id: 'Export' },
  ),
);

export const startedExportSchema = /* @__PURE__ */ lazy(() =>
  named(
    z.object({
      exportId: msgId(),
      userId: id(),
      includeHidden: z.boolean(),
      status: z.literal('running'),
      startedAt: integer(),
    }),
    { id: 'StartedExport' },
  ),
);

/** Compile-time agreement of the answer schema with the domain's view (both directions). */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
export type ExportWireAgreesWithDomain =
  Same<z.output<ReturnType<typeof exportViewSchema>>, ExportView> extends true ? true : never;
const agrees: ExportWireAgreesWithDomain = true;
void agrees;
