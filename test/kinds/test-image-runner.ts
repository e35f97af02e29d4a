/** The runner of the test-only TestImage kind (release-doubles.ts): a file named and described as PlatformImage's. */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { sha256File } from '../../lib/cache/hash.ts';
import { defineRunner, requireInput } from '../../lib/runner.ts';
import { testImageKind } from './release-doubles.ts';

/** TestImage: a file named as PlatformImage names images, with its metadata. */
export default defineRunner(testImageKind, {
  async run(context) {
    const { props } = context;
    const commit = requireInput(context, props.commit);
    const version = String(commit.metadata.version);
    const arch = props.arch ?? String(commit.metadata.arch);
    const id = props.ignitionPlatformId ?? props.platform;
    const name = `${props.osName}-${version}-${id}${props.sectorSize === 4096 ? '4k' : ''}.${arch}.${props.extension}`;
    const file = path.join(context.workDir, name);
    await writeFile(file, `image of ${commit.digest} for ${props.platform}\n`);
    const { digest, size } = await sha256File(file);
    return {
      image: {
        storage: 'file',
        path: file,
        metadata: {
          path: name,
          sha256: digest,
          size,
          'uncompressed-sha256': digest.split('').reverse().join(''),
          'uncompressed-size': size * 2,
          platform: props.platform,
          ignitionPlatformId: id,
          arch,
          sectorSize: props.sectorSize,
          osName: props.osName,
          version,
          commit: commit.digest,
        },
      },
    };
  },
});
