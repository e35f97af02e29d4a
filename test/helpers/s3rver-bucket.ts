/**
 * A real S3 server (s3rver) on 127.0.0.1 with one bucket and its own access key, and the AWS SDK
 * environment that reaches it: shared by the remote-cache tests, which run fcos-run as a process
 * with that environment (the SDK's bundler-only ESM build does not load under vitest).
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { DUMMY_ACCOUNT } from 's3rver/lib/models/account.js';

/** A running s3rver with one bucket. */
export interface S3rverBucket {
  /** The AWS SDK environment of a client of the bucket (keys, region, endpoint). */
  readonly environment: Readonly<Record<string, string>>;
  /** Stops the server. */
  stop(): Promise<void>;
}

/** Starts s3rver with `bucket` and an access key `accessKeyId` known to it. */
export async function startS3rverBucket(bucket: string, accessKeyId: string): Promise<S3rverBucket> {
  const secret = `${accessKeyId.toLowerCase()}-secret`;
  DUMMY_ACCOUNT.createKeyPair(accessKeyId, secret);
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: await mkdtemp(path.join(os.tmpdir(), 'fcos-s3rver-')),
    configureBuckets: [{ name: bucket }],
  });
  const { port } = await server.run();
  return {
    environment: {
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secret,
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${port}`,
    },
    stop: async () => {
      server.httpServer?.closeAllConnections();
      await server.close();
    },
  };
}
