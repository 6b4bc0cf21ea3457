import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCopyCommand,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import type { Clock } from '../core/clock.js';
import { StoreError } from '../core/errors.js';
import type { ExportSink } from '../domain/export-sink.js';

/**
 * Exports in the stack's bucket (infra/constructs/exports.ts): each part an object of its own,
 * `exports/{exportId}/parts/{part}.ndjson`, joined by a multipart upload that copies them server-side
 * (UploadPartCopy) into `exports/{exportId}.ndjson`; a join that crashed is simply done again (the
 * abandoned upload is aborted by the bucket's lifecycle). The bucket's lifecycle expires everything
 * after a week. GET answers a presigned URL of the file, valid for `urlSeconds`.
 */
export type S3Sender = Pick<S3Client, 'send'>;

export interface S3SinkOptions {
  client: S3Sender;
  bucket: string;
  clock: Clock;
  /** How long a presigned URL works. @default 900 (15 minutes) */
  urlSeconds?: number;
  /** Signs the GET of the file (a real client's credentials). @default getSignedUrl with `client` */
  presign?: (bucket: string, key: string, seconds: number) => Promise<string>;
}

/** S3 joins parts of at least 5 MiB (but the last): a step writes 8 MiB, so 10,000 parts hold 80 GB. */
export const S3_PART_BYTES = 8 * 1024 * 1024;

export function s3Sink(options: S3SinkOptions): ExportSink {
  const { client, bucket } = options;
  const urlSeconds = options.urlSeconds ?? 900;
  const partKey = (exportId: string, part: string) => `exports/${exportId}/parts/${part}.ndjson`;
  const fileKey = (exportId: string) => `exports/${exportId}.ndjson`;
  const presign =
    options.presign ??
    ((b: string, key: string, seconds: number) =>
      getSignedUrl(client as S3Client, new GetObjectCommand({ Bucket: b, Key: key }), {
        expiresIn: seconds,
      }));
  return {
    partBytes: S3_PART_BYTES,
    async writePart(exportId, part, text) {
      await s3(() =>
        client.send(
          new PutObjectCommand({
            Bucket: bucket,
            Key: partKey(exportId, part),
            Body: text,
            ContentType: 'application/x-ndjson',
          }),
        ),
      );
    },
    async join(exportId, parts) {
      if (await exists(client, bucket, fileKey(exportId))) return;
      const { UploadId } = await s3(() =>
        client.send(
          new CreateMultipartUploadCommand({
            Bucket: bucket,
            Key: fileKey(exportId),
            ContentType: 'application/x-ndjson',
          }),
        ),
      );
      try {
        const etags: { ETag: string; PartNumber: number }[] = [];
        for (const [i, part] of parts.entries()) {
          const copied = await s3(() =>
            client.send(
              new UploadPartCopyCommand({
                Bucket: bucket,
                Key: fileKey(exportId),
                UploadId,
                PartNumber: i + 1,
                CopySource: `${bucket}/${partKey(exportId, part)}`,
              }),
            ),
          );
          etags.push({ ETag: copied.CopyPartResult?.ETag ?? '', PartNumber: i + 1 });
        }
        await s3(() =>
          client.send(
            new CompleteMultipartUploadCommand({
              Bucket: bucket,
              Key: fileKey(exportId),
              UploadId,
              MultipartUpload: { Parts: etags },
            }),
          ),
        );
      } catch (error) {
        await client
          .send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: fileKey(exportId), UploadId }))
          .catch(() => undefined);
        throw error;
      }
    },
    async locate(exportId) {
      const url = await presign(bucket, fileKey(exportId), urlSeconds);
      return { url, expiresAt: options.clock.now() + urlSeconds * 1000 };
    },
  };
}

async function exists(client: S3Sender, bucket: string, key: string): Promise<boolean> {
  try {
    await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
    if (status === 404 || (error as Error).name === 'NotFound') return false;
    throw new StoreError('S3 request failed', { cause: error });
  }
}

/** S3 errors become the domain's at this adapter. */
async function s3<T>(request: () => Promise<T>): Promise<T> {
  try {
    return await request();
  } catch (error) {
    throw new StoreError('S3 request failed', { cause: error });
  }
}

/** For the export functions: EXPORT_BUCKET names the bucket (checked at cold start). */
export function s3SinkFromEnv(clock: Clock, env: NodeJS.ProcessEnv = process.env): ExportSink {
  const bucket = env.EXPORT_BUCKET;
  if (!bucket) throw new Error('EXPORT_BUCKET must be set');
  return s3Sink({ client: new S3Client({}), bucket, clock });
}
