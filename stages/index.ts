/** The built-in stages. */
export * from './build/index.ts';
export * from './disk-image/index.ts';
export * from './install-test/index.ts';
export * from './kola-test/index.ts';
export * from './live-image/index.ts';
export * from './local-package-repo/index.ts';
export * from './manifest/index.ts';
export * from './platform-image/index.ts';
export * from './publish/index.ts';
export * from './release/index.ts';
export * from './rpm-ostree-compose/index.ts';
export * from './update-metadata/index.ts';
export * from './update-test/index.ts';
export * from './upload/index.ts';
