/**
 * A real nginx (Debian's, with its WebDAV module) serving a directory on 127.0.0.1 the way a
 * Bazel-style HTTP cache is served: GET and HEAD as static files, PUT with `create_full_put_path`,
 * an optional bearer token required for every request. Each instance has its own configuration,
 * prefix and logs in a temporary directory and runs in the foreground as a child of the test (or
 * benchmark: this file does not use vitest).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** A running nginx. */
export interface NginxWebdav {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** The directory it serves (files appear under it as `<prefix>/cas/<digest>` …). */
  readonly root: string;
  /** Stops it and removes its directory (what it served, its configuration and logs). */
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1 (nginx needs a number in its configuration; a test, a closed port). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/** Starts nginx serving a fresh directory; with `token`, a request without `Bearer <token>` gets 401. */
export async function startNginxWebdav(options: { token?: string } = {}): Promise<NginxWebdav> {
  const base = await mkdtemp(path.join(os.tmpdir(), 'fcos-nginx-'));
  const root = path.join(base, 'root');
  await mkdir(root);
  await mkdir(path.join(base, 'temp'));
  const port = await freePort();
  const tokenCheck = options.token
    ? `if ($http_authorization != "Bearer ${options.token}") { return 401; }`
    : '';
  // As root, nginx's workers would switch to an unprivileged user that cannot write the root.
  const user = process.getuid?.() === 0 ? 'user root;' : '';
  const configuration = `
${user}
pid ${base}/nginx.pid;
error_log ${base}/error.log warn;
worker_processes 1;
events { worker_connections 64; }
http {
  access_log ${base}/access.log;
  client_body_temp_path ${base}/temp;
  proxy_temp_path ${base}/temp;
  fastcgi_temp_path ${base}/temp;
  uwsgi_temp_path ${base}/temp;
  scgi_temp_path ${base}/temp;
  client_max_body_size 0;
  server {
    listen 127.0.0.1:${port};
    root ${root};
    location / {
      ${tokenCheck}
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
    }
  }
}
`;
  const configFile = path.join(base, 'nginx.conf');
  await writeFile(configFile, configuration);
  const child: ChildProcess = spawn(
    'nginx',
    ['-p', base, '-e', path.join(base, 'error.log'), '-c', configFile, '-g', 'daemon off;'],
    {
      stdio: ['ignore', 'ignore', 'pipe'],
    },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const ready = await fetch(`${url}/`, { method: 'HEAD' }).then(
      () => true,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) throw new Error(`nginx did not answer on ${url}: ${stderr}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url,
    root,
    stop: async () => {
      await new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      });
      // A remote cache's blobs are whole disk images: a gigabyte per test left in /tmp otherwise.
      await rm(base, { recursive: true, force: true });
    },
  };
}
