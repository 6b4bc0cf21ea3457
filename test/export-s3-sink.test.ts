import { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../functions/core/clock.js';
import { s3Sink } from '../functions/exports/s3-sink.js';

/**
 * The S3 sink against a FAKE S3 client (an in-memory bucket that answers the commands the sink sends,
 * as S3 documents them): no S3 runs in the tests. What it shows: parts joined in the recorded order by a
 * server-side multipart copy, a join done again after a crash gives the same file, and the presigned
 * URL (signed for real, offline) names the file and expires when the answer says.
 */
function fakeBucket() {
  const objects = new Map<string, string>();
  const uploads = new Map<string, Map<number, string>>();
  const sent: string[] = [];
  let failCopyAt: number | undefined;
  const client = {
    async send(command: { constructor: { name: string }; input: Record<string, unknown> }) {
      const name = command.constructor.name;
      const input = command.input as {
        Key: string;
        Body?: string;
        UploadId: string;
        PartNumber: number;
        CopySource?: string;
        MultipartUpload: { Parts: { PartNumber: number }[] };
      };
      sent.push(name);
      switch (name) {
        case 'PutObjectCommand':
          objects.set(input.Key, String(input.Body));
          return {};
        case 'HeadObjectCommand':
          if (objects.has(input.Key)) return {};
          throw Object.assign(new Error('NotFound'), {
            name: 'NotFound',
            $metadata: { httpStatusCode: 404 },
          });
        case 'CreateMultipartUploadCommand': {
          const id = `upload-${uploads.size + 1}`;
          uploads.set(id, new Map());
          return { UploadId: id };
        }
        case 'UploadPartCopyCommand': {
          if (failCopyAt !== undefined && failCopyAt-- === 0) throw new Error('connection reset');
          const source = objects.get(String(input.CopySource).replace(/^[^/]+\//, ''));
          if (source === undefined) throw new Error('NoSuchKey');
          uploads.get(input.UploadId)?.set(input.PartNumber, source);
          return { CopyPartResult: { ETag: `"etag-${input.PartNumber}"` } };
        }
        case 'CompleteMultipartUploadCommand': {
          const parts = uploads.get(input.UploadId) ?? new Map();
          const text = input.MultipartUpload.Parts.map((p: { PartNumber: number }) =>
            parts.get(p.PartNumber),
          ).join('');
          objects.set(input.Key, text);
          return {};
        }
        case 'AbortMultipartUploadCommand':
          uploads.delete(input.UploadId);
          return {};
        default:
          throw new Error(`unexpected ${name}`);
      }
    },
  };
  return {
    client: client as unknown as S3Client,
    objects,
    sent,
    failNextCopy: (after: number) => {
      failCopyAt = after;
    },
  };
}

describe('the S3 export sink (fake S3 client)', () => {
  it('joins the recorded parts in order, and again after a join that crashed', async () => {
    const bucket = fakeBucket();
    const sink = s3Sink({ client: bucket.client, bucket: 'b', clock: new ManualClock(0) });
    await sink.writePart('E1', '000001-a', 'one\n');
    await sink.writePart('E1', '000002-lost', 'never recorded\n');
    await sink.writePart('E1', '000002-b', 'two\n');
    await sink.writePart('E1', '000003-c', 'three\n');
    bucket.failNextCopy(1);
    await expect(sink.join('E1', ['000001-a', '000002-b', '000003-c'])).rejects.toThrow('S3 request failed');
    expect(bucket.objects.has('exports/E1.ndjson')).toBe(false);
    expect(bucket.sent).toContain('AbortMultipartUploadCommand');
    await sink.join('E1', ['000001-a', '000002-b', '000003-c']);
    expect(bucket.objects.get('exports/E1.ndjson')).toBe('one\ntwo\nthree\n');
    // Done already: a second join changes nothing.
    const before = bucket.sent.length;
    await sink.join('E1', ['000001-a']);
    expect(bucket.sent.slice(before)).toEqual(['HeadObjectCommand']);
    expect(bucket.objects.get('exports/E1.ndjson')).toBe('one\ntwo\nthree\n');
  });

  it('answers a presigned GET of the file that expires with the answer', async () => {
    const client = new S3Client({
      region: 'eu-west-1',
      credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
    });
    const clock = new ManualClock(1_000_000);
    const sink = s3Sink({ client, bucket: 'exports-bucket', clock, urlSeconds: 600 });
    const { url, expiresAt } = await sink.locate('01KG8NJW002MYZ336HTPDJ5Q1Z');
    const parsed = new URL(url);
    expect(parsed.protocol).toBe('https:');
    expect(`${parsed.host}${parsed.pathname}`).toContain('exports/01KG8NJW002MYZ336HTPDJ5Q1Z.ndjson');
    expect(parsed.searchParams.get('X-Amz-Expires')).toBe('600');
    expect(parsed.searchParams.get('X-Amz-Signature')).toMatch(/^[0-9a-f]{64}$/);
    expect(expiresAt).toBe(1_000_000 + 600_000);
  });
});
