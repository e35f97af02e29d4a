/**
 * A delaying proxy in front of fcos-serve, for the interrupted-pull scenario: the delta between two
 * releases of the tiny OS is pulled in a second or two, too fast for a test to cut the power in the
 * middle of it. Every request is forwarded to the server unchanged; while the proxy is slow, the
 * answer to each ostree object (`/objects/`) is held back for a while first, so the pull lasts long
 * enough to be killed mid-way. It counts the objects it delivered, so the test knows the pull had
 * started (and wrote something) when it cut the power. fcos-serve itself stays clean: this lives
 * with the test that needs it.
 */
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

/** A running proxy. */
export interface SlowRepository {
  /** The port it listens on (127.0.0.1). */
  readonly port: number;
  /** Objects whose answer was fully delivered (slow or not). */
  objectsDelivered(): number;
  /** Sets the delay of each object's answer, in milliseconds (0: full speed). */
  setDelay(milliseconds: number): void;
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/** Whether a request path is an ostree object (loose objects and commit metadata alike). */
export function isObjectPath(url: string): boolean {
  return /\/objects\/[0-9a-f]{2}\/[0-9a-f]{62}\./.test(url.split('?')[0] ?? '');
}

/** Starts a proxy on 127.0.0.1 forwarding to `targetPort`, delaying objects by `delayMs`. */
export async function startSlowRepository(targetPort: number, delayMs: number): Promise<SlowRepository> {
  let delay = delayMs;
  let delivered = 0;
  const forward = async (incoming: IncomingMessage, outgoing: ServerResponse): Promise<void> => {
    const url = incoming.url ?? '/';
    const object = isObjectPath(url);
    if (object && delay > 0) await sleep(delay);
    const upstream = httpRequest(
      { host: '127.0.0.1', port: targetPort, method: incoming.method, path: url, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
        answer.on('end', () => {
          if (object && (answer.statusCode ?? 0) < 300) delivered++;
        });
      },
    );
    // The guest going away (QEMU killed) is the point of the exercise, not an error.
    upstream.on('error', () => outgoing.destroy());
    incoming.on('error', () => upstream.destroy());
    incoming.pipe(upstream);
  };
  const server = createServer((incoming, outgoing) => {
    forward(incoming, outgoing).catch(() => outgoing.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    objectsDelivered: () => delivered,
    setDelay: (milliseconds) => {
      delay = milliseconds;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
