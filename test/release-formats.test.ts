/** The release format schemas accept the real documents in test/fixtures/reference/ (copied from ../shared/reference/) and refuse broken ones. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  releaseIndexSchema,
  releaseSchema,
  streamMetadataSchema,
  updateGraphSchema,
  updateMetadataSchema,
} from '../lib/release/formats.ts';

const REFERENCE = path.resolve(import.meta.dirname, 'fixtures/reference');

/** A reference document, parsed. */
function reference(name: string): unknown {
  return JSON.parse(readFileSync(path.join(REFERENCE, name), 'utf8'));
}

describe('release formats', () => {
  it.each([
    ['fcos-release.json', releaseSchema],
    ['fcos-releases.json', releaseIndexSchema],
    ['fcos-stream.json', streamMetadataSchema],
    ['fcos-updates-stable.json', updateMetadataSchema],
    ['cincinnati-graph-response.json', updateGraphSchema],
  ] as const)('%s parses and keeps every field', (name, schema) => {
    const document = reference(name);
    const parsed = schema.parse(document);
    expect(parsed).toEqual(document);
  });

  it('refuses a release whose commit is not a checksum, naming the field', () => {
    const document = reference('fcos-release.json') as { architectures: { x86_64: { commit: string } } };
    document.architectures.x86_64.commit = 'not-a-checksum';
    const result = releaseSchema.safeParse(document);
    expect(result.success).toBe(false);
    expect(result.error?.issues[0]?.path).toEqual(['architectures', 'x86_64', 'commit']);
  });

  it('refuses a rollout percentage above 1 and a release index entry without commits', () => {
    const updates = reference('fcos-updates-stable.json') as {
      releases: { metadata: { rollout?: { start_percentage: number } } }[];
    };
    const rollout = updates.releases.find((entry) => entry.metadata.rollout)!;
    rollout.metadata.rollout!.start_percentage = 1.5;
    expect(updateMetadataSchema.safeParse(updates).success).toBe(false);
    const index = reference('fcos-releases.json') as { releases: { commits?: unknown }[] };
    delete index.releases[0]!.commits;
    expect(releaseIndexSchema.safeParse(index).success).toBe(false);
  });
});
