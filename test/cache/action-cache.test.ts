/** The action cache: records keyed by action key, validated on read, with the per-node index that explains misses. */
import { readdir, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ACTION_RECORD_SCHEMA_VERSION,
  ActionCache,
  type ActionRecord,
} from '../../lib/cache/action-cache.ts';
import { InvalidActionKeyError, InvalidActionRecordError } from '../../lib/cache/errors.ts';
import { diffKeyMaterial } from '../../lib/cache/explain.ts';
import { sha256Bytes } from '../../lib/cache/hash.ts';
import { temporaryDirectory } from './helpers.ts';

/** A valid record for `name` (its key is the sha256 of the name). */
function recordFor(name: string, overrides: Partial<ActionRecord> = {}): ActionRecord {
  return {
    schemaVersion: ACTION_RECORD_SCHEMA_VERSION,
    key: sha256Bytes(name),
    node: `Pipeline/${name}`,
    kind: 'DiskImage',
    outputs: {
      image: {
        digest: sha256Bytes(`${name}-image`),
        storage: 'file',
        size: 1024,
        sectorSize: 512,
        arch: 'x86_64',
      },
    },
    startedAt: '2025-01-01T00:00:00.000Z',
    finishedAt: '2025-01-01T00:01:00.000Z',
    durationMs: 60_000,
    keyMaterial: { kind: 'DiskImage', version: 1, props: { sizeGiB: 10 } },
    ...overrides,
  };
}

describe('ActionCache records', () => {
  it('stores a record at actions/<2>/<key>.json and reads it back with its extra output metadata', async () => {
    const root = await temporaryDirectory();
    const cache = new ActionCache(root, { fsync: false });
    const record = recordFor('a');
    expect(await cache.get(record.key)).toBeUndefined();
    await cache.put(record);
    expect(cache.recordPath(record.key)).toBe(
      path.join(root, 'actions', record.key.slice(0, 2), `${record.key}.json`),
    );
    expect(await cache.get(record.key)).toEqual(record);
    expect((await cache.get(record.key))?.outputs.image?.sectorSize).toBe(512);
    expect(await readdir(path.join(root, 'tmp'))).toEqual([]);
  });

  it('rejects invalid records and keys with typed errors', async () => {
    const cache = new ActionCache(await temporaryDirectory(), { fsync: false });
    await expect(cache.put(recordFor('a', { durationMs: -1 }))).rejects.toBeInstanceOf(
      InvalidActionRecordError,
    );
    await expect(
      cache.put(recordFor('a', { outputs: { x: { digest: 'nope', storage: 'file', size: 1 } } })),
    ).rejects.toThrow(/outputs\.x\.digest/);
    await expect(cache.get('../../escape')).rejects.toBeInstanceOf(InvalidActionKeyError);
  });

  it('treats an unparsable record, or one stored under another key, as a miss and deletes it', async () => {
    const root = await temporaryDirectory();
    const cache = new ActionCache(root, { fsync: false });
    const record = recordFor('a');
    await cache.put(record);
    const file = cache.recordPath(record.key);
    await writeFile(file, '{"schemaVersion": 1, "key": trunc');
    expect(await cache.get(record.key)).toBeUndefined();
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });

    const other = recordFor('b');
    await cache.put(other);
    await writeFile(file, await readFile(cache.recordPath(other.key)));
    expect(await cache.get(record.key)).toBeUndefined();
    await expect(stat(file)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('touch() refreshes the last use, and list() is least recently used first', async () => {
    const root = await temporaryDirectory();
    const cache = new ActionCache(root, { fsync: false });
    const names = ['a', 'b', 'c'];
    for (const [index, name] of names.entries()) {
      const record = recordFor(name);
      await cache.put(record);
      const past = new Date(Date.now() - (10 - index) * 60_000);
      await utimes(cache.recordPath(record.key), past, past);
    }
    expect((await cache.list()).map((entry) => entry.record.node)).toEqual([
      'Pipeline/a',
      'Pipeline/b',
      'Pipeline/c',
    ]);
    expect(await cache.touch(sha256Bytes('a'))).toBe(true);
    expect(await cache.touch(sha256Bytes('absent'))).toBe(false);
    const listed = await cache.list();
    expect(listed.map((entry) => entry.record.node)).toEqual(['Pipeline/b', 'Pipeline/c', 'Pipeline/a']);
    expect(Date.now() - listed[2]!.lastUsedAt.getTime()).toBeLessThan(5_000);
    expect(await cache.remove(sha256Bytes('b'))).toBe(true);
    expect(await cache.list()).toHaveLength(2);
  });
});

describe('ActionCache node index', () => {
  it('remembers the last key and key material of each node, keyed by the sha256 of its path', async () => {
    const root = await temporaryDirectory();
    const cache = new ActionCache(root, { fsync: false });
    const node = 'Pipeline/x86_64/Disk';
    expect(await cache.getLastForNode(node)).toBeUndefined();
    await cache.setLastForNode(node, sha256Bytes('1'), { props: { size: 10 }, inputs: ['a'] });
    await cache.setLastForNode(node, sha256Bytes('2'), { props: { size: 12 }, inputs: ['a', 'b'] });
    expect(cache.nodeIndexPath(node)).toBe(path.join(root, 'nodes', `${sha256Bytes(node)}.json`));
    const last = await cache.getLastForNode(node);
    expect(last).toMatchObject({
      key: sha256Bytes('2'),
      keyMaterial: { props: { size: 12 }, inputs: ['a', 'b'] },
    });

    await writeFile(cache.nodeIndexPath(node), 'garbage');
    expect(await cache.getLastForNode(node)).toBeUndefined();
    await expect(stat(cache.nodeIndexPath(node))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('explains a miss by the differences in key material', () => {
    const changes = diffKeyMaterial(
      { props: { size: 10, arch: 'x86_64' }, inputs: ['a'], version: 1 },
      { props: { size: 12, arch: 'x86_64' }, inputs: ['a', 'b'], runner: 'v2' },
    );
    expect(changes).toEqual([
      { path: 'inputs[1]', change: 'added', after: 'b' },
      { path: 'props.size', change: 'changed', before: 10, after: 12 },
      { path: 'runner', change: 'added', after: 'v2' },
      { path: 'version', change: 'removed', before: 1 },
    ]);
    expect(diffKeyMaterial({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([]);
  });
});
