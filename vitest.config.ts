import { defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// `fcos-cdk` (a test's generated program, pipeline.ts) resolves to the sources through the
// package's `fcos-cdk-source` export condition, so the suite loads one copy of the library: the
// sources its own files import, never dist/ beside them.
const conditions = ['fcos-cdk-source', ...defaultServerConditions];

export default defineConfig({
  resolve: { conditions },
  ssr: { resolve: { conditions } },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores: one file at a time on CI's 2 cores,
    // while most files wait on tools, servers and VMs more than they compute. Two at a time.
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 600_000,
  },
});
