/** The runner of the test-only TestPlatformImage kind: the test's file, copied. */
import { copyFile } from 'node:fs/promises';
import path from 'node:path';
import { defineRunner } from '../../lib/runner.ts';
import { testPlatformImageKind } from './test-platform-image.ts';

export default defineRunner(testPlatformImageKind, {
  async run(context) {
    const target = path.join(context.workDir, path.basename(context.props.file));
    await copyFile(context.props.file, target);
    return { image: { storage: 'file', path: target, metadata: { platform: context.props.platform } } };
  },
});
