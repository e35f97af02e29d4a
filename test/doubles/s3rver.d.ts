/** Types of the parts of s3rver (a JavaScript package) the tests use. */
declare module 's3rver' {
  /** Options of an s3rver instance. */
  interface S3rverOptions {
    address?: string;
    port?: number;
    silent?: boolean;
    directory?: string;
    resetOnClose?: boolean;
    configureBuckets?: Array<{ name: string }>;
  }
  /** A real S3-protocol server backed by a directory. */
  export default class S3rver {
    constructor(options: S3rverOptions);
    run(): Promise<{ address: string; port: number }>;
    close(): Promise<void>;
    httpServer: import('node:http').Server;
  }
}

declare module 's3rver/lib/models/account.js' {
  /** The account s3rver authenticates requests against. */
  export const DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void };
}
