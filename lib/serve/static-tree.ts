/**
 * The publish destination as plain files over HTTP (GET and HEAD): `streams/<stream>.json`,
 * `updates/<stream>.json`, `prod/streams/<stream>/builds/...` (release.json, meta.json, images and
 * their `.sig`), `signing-key.asc`, and the stream's archive-mode ostree repository at
 * `prod/streams/<stream>/repo`, which ostree pulls over plain HTTP (config, refs/, summary,
 * summary.sig, objects/). @fastify/static (with @fastify/send) rather than a hand-written file
 * handler: it already does HEAD, Range, ETag/Last-Modified revalidation, content types, and the
 * path checks that keep a request inside the root (`..` and its encoded forms are refused).
 * Files are looked up per request, so a release published while the server runs is served at once.
 */
import fastifyStatic from '@fastify/static';
import type { FastifyInstance } from 'fastify';

/** Registers the file tree under `root` (an absolute directory) at `/` on `server`. */
export async function registerStaticTree(server: FastifyInstance, root: string): Promise<void> {
  await server.register(fastifyStatic, {
    root,
    prefix: '/',
    // A directory is not a document: no index.html lookup, no listing, a 404 like a missing file.
    index: false,
    list: false,
    redirect: false,
    // Nothing a client needs starts with a dot; ostree's own `.lock` stays private.
    dotfiles: 'ignore',
    // Revalidated every time (ETag / Last-Modified): summary, refs and the JSON documents change on
    // every publish, and a stale summary would point a client at a commit it cannot verify.
    cacheControl: true,
    maxAge: 0,
    // reply.sendFile is not used: keep the reply free of decorators another plugin might want.
    decorateReply: false,
  });
}
