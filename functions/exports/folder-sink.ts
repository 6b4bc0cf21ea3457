import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ULID_PATTERN } from '../core/ids.js';
import type { ExportSink } from '../domain/export-sink.js';

/**
 * Exports in a folder (npm start keeps them under its data folder): `{exportId}/parts/{part}.ndjson`
 * while running, joined into `{exportId}.ndjson`. Every file is written under a temporary name and
 * renamed, so a crash never leaves half of one where a reader looks. The file is served to admins by
 * `npm start` at GET /v1/admin/exports/{exportId}/file (local/http-server.ts), the `location` here.
 */
export interface FolderSink extends ExportSink {
  /** The finished file of an export, if there is one. */
  fileOf(exportId: string): string | undefined;
}

/**
 * Parts of 8 MiB, as the S3 sink's: a step reads tens of thousands of copies, so a few writes and
 * checkpoints an export; most exports are one part, which the join renames rather than copies.
 */
const FOLDER_PART_BYTES = 8 * 1024 * 1024;

export function folderSink(root: string, partBytes = FOLDER_PART_BYTES): FolderSink {
  const partsDir = (exportId: string) => join(root, checked(exportId), 'parts');
  const finalFile = (exportId: string) => join(root, `${checked(exportId)}.ndjson`);
  const temporary = (file: string) => `${file}.tmp-${randomBytes(6).toString('hex')}`;
  return {
    partBytes,
    async writePart(exportId, part, text) {
      const dir = partsDir(exportId);
      await mkdir(dir, { recursive: true, mode: 0o700 });
      const file = join(dir, `${part}.ndjson`);
      const tmp = temporary(file);
      await writeFile(tmp, text, { mode: 0o600 });
      await rename(tmp, file);
    },
    async join(exportId, parts) {
      const target = finalFile(exportId);
      const [only] = parts;
      if (!existsSync(target) && parts.length === 1 && only !== undefined) {
        // One part is the file: made durable, then renamed (a second join finds the file and skips).
        const part = await open(join(partsDir(exportId), `${only}.ndjson`), 'r');
        try {
          await part.sync();
        } finally {
          await part.close();
        }
        await rename(join(partsDir(exportId), `${only}.ndjson`), target);
      } else if (!existsSync(target)) {
        const tmp = temporary(target);
        const out = await open(tmp, 'w', 0o600);
        try {
          // One part at a time: a part is at most a step's lines.
          for (const part of parts)
            await out.write(await readFile(join(partsDir(exportId), `${part}.ndjson`)));
          await out.sync();
        } finally {
          await out.close();
        }
        await rename(tmp, target);
      }
      await rm(join(root, checked(exportId)), { recursive: true, force: true });
    },
    async locate(exportId) {
      return { url: `/v1/admin/exports/${checked(exportId)}/file`, expiresAt: null };
    },
    fileOf(exportId) {
      if (!ULID_PATTERN.test(exportId)) return undefined;
      const file = finalFile(exportId);
      return existsSync(file) ? file : undefined;
    },
  };
}

/** Export ids are ULIDs (the routes check): nothing else ever names a file here. */
function checked(exportId: string): string {
  if (!ULID_PATTERN.test(exportId)) throw new Error(`Not an export id: ${exportId}`);
  return exportId;
}
