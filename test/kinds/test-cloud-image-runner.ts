/** The runner of the test-only TestCloudImage kind (release-doubles.ts): Upload's metadata, uploaded nowhere. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { defineRunner, requireInput } from '../../lib/runner.ts';
import { canonicalStringify, type JsonValue } from '../../lib/util/canonical-json.ts';
import { testCloudImageKind } from './release-doubles.ts';

/** TestCloudImage: the given cloud fields as a cloud-image.json. */
export default defineRunner(testCloudImageKind, {
  async run(context) {
    const image = requireInput(context, context.props.image);
    const metadata = {
      ...(context.props.metadata as Record<string, JsonValue>),
      platform: String(image.metadata.platform),
      arch: String(image.metadata.arch),
    };
    const file = path.join(context.workDir, 'cloud-image.json');
    await writeFile(file, canonicalStringify(metadata, 2));
    return { cloudImage: { storage: 'file', path: file, metadata } };
  },
});
