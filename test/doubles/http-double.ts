/**
 * Plumbing shared by the cloud test doubles: loopback HTTP(S) servers, request bodies, and a
 * self-signed certificate authority for doubles that must speak TLS (Azure's SDK sends bearer
 * tokens over https only).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http, { type IncomingMessage, type RequestListener, type Server } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A started double: its base URL and how to stop it. */
export interface RunningServer {
  /** `http://127.0.0.1:PORT` (or https). */
  readonly url: string;
  /** The port it listens on. */
  readonly port: number;
  /** Stops it (open connections are closed). */
  close(): Promise<void>;
}

/** A certificate for 127.0.0.1 and the CA that signed it (PEM). */
export interface TestCertificate {
  readonly caPem: string;
  readonly keyPem: string;
  readonly certPem: string;
}

/** Starts `handler` on a free loopback port (TLS when `tls` is given). */
export async function startServer(handler: RequestListener, tls?: TestCertificate): Promise<RunningServer> {
  const server: Server = tls
    ? https.createServer({ key: tls.keyPem, cert: tls.certPem }, handler)
    : http.createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The whole body of a request. */
export async function readBody(request: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** Makes a CA and a certificate for 127.0.0.1 signed by it, with openssl. */
export function makeTestCertificate(): TestCertificate {
  const directory = mkdtempSync(path.join(os.tmpdir(), 'fcos-test-ca-'));
  const file = (name: string) => path.join(directory, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'pipe' });
  try {
    openssl(
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=fcos-cdk test CA',
      '-keyout',
      file('ca.key'),
      '-out',
      file('ca.pem'),
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    openssl(
      'req',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-subj',
      '/CN=127.0.0.1',
      '-keyout',
      file('server.key'),
      '-out',
      file('server.csr'),
    );
    const extensions = file('server.ext');
    writeFileSync(extensions, 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n');
    openssl(
      'x509',
      '-req',
      '-in',
      file('server.csr'),
      '-CA',
      file('ca.pem'),
      '-CAkey',
      file('ca.key'),
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      file('server.pem'),
      '-extfile',
      extensions,
    );
    return {
      caPem: readFileSync(file('ca.pem'), 'utf8'),
      keyPem: readFileSync(file('server.key'), 'utf8'),
      certPem: readFileSync(file('server.pem'), 'utf8'),
    };
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
}

/** A request a {@link RecordingProxy} forwarded or answered. */
export interface ProxiedRequest {
  readonly method: string;
  readonly url: string;
}

/** An answer a proxy gives instead of forwarding. */
export interface InterceptedAnswer {
  readonly status: number;
  readonly body?: string;
  readonly headers?: Record<string, string>;
  /**
   * Wait this long before answering (or forwarding, when status is 0).
   * @default 0
   */
  readonly delayMs?: number;
}

/**
 * A loopback HTTP proxy in front of a real server (s3rver): records every request, and lets a
 * test answer some itself (throttling, operations the server lacks) or delay them.
 */
export class RecordingProxy {
  /** Every request received, in order. */
  readonly requests: ProxiedRequest[] = [];
  /** Decides, per request, to answer it here (or delay it: status 0); undefined forwards it. */
  intercept: (request: ProxiedRequest) => InterceptedAnswer | undefined = () => undefined;
  private server: RunningServer | undefined;

  constructor(private readonly target: string) {}

  /** Starts listening; returns the proxy's URL. */
  async start(): Promise<string> {
    const target = new URL(this.target);
    this.server = await startServer((request, response) => {
      const entry = { method: request.method ?? 'GET', url: request.url ?? '/' };
      this.requests.push(entry);
      const answer = this.intercept(entry);
      const forward = () => {
        const upstream = http.request(
          {
            host: target.hostname,
            port: target.port,
            method: request.method,
            path: request.url,
            headers: request.headers,
          },
          (reply) => {
            response.writeHead(reply.statusCode ?? 502, reply.headers);
            reply.pipe(response);
          },
        );
        upstream.on('error', () => response.destroy());
        request.pipe(upstream);
      };
      const respond = () => {
        if (!answer || answer.status === 0) return forward();
        request.resume();
        response.writeHead(answer.status, answer.headers ?? { 'content-type': 'application/xml' });
        response.end(answer.body ?? '');
      };
      if (answer?.delayMs) setTimeout(respond, answer.delayMs);
      else respond();
    });
    return this.server.url;
  }

  /** Stops listening. */
  async stop(): Promise<void> {
    await this.server?.close();
  }
}
