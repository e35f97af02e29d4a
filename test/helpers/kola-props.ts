/** The props a KolaTest node's runner receives with the schema's defaults: one copy for every kola test. */

/** KolaTest's canonical node props with the schema's defaults, the image as input `image`. */
export const KOLA_NODE_PROPS = {
  image: { $input: 'image' },
  tests: ['basic'],
  tags: [] as string[],
  testsDir: 'tests/kola',
  parallelism: 1,
  memoryMiB: 1024,
  firmware: 'uefi' as const,
  rerunFailed: true,
  bootTimeoutSeconds: 120,
  accelerator: 'tcg' as const,
};
