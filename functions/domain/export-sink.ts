/**
 * Where an export's file goes: parts written whole under names no other attempt uses, joined in order
 * at the end. Two implementations: a folder (npm start, tests: functions/exports/folder-sink.ts) and an
 * S3 bucket (deployed: functions/exports/s3-sink.ts). Domain code sees only this.
 */
export interface ExportSink {
  /**
   * The least a part holds unless it is the export's last (S3 joins parts of at least 5 MiB): a step
   * writes at least this much.
   */
  readonly partBytes: number;
  /** Writes one part whole: a reader sees all of it or none (overwriting the same name is harmless). */
  writePart(exportId: string, part: string, text: string): Promise<void>;
  /** Joins the parts, in this order, into the export's file; again after a crash, the same file. */
  join(exportId: string, parts: readonly string[]): Promise<void>;
  /** Where a finished export's file can be fetched, and until when (null: as long as it is kept). */
  locate(exportId: string): Promise<{ url: string; expiresAt: number | null }>;
}
