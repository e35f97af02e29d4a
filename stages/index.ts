/** The built-in stages. */
export * from './disk-image.ts';
export * from './kola-test.ts';
export * from './local-package-repo.ts';
export * from './manifest.ts';
export * from './platform-image.ts';
export * from './rpm-ostree-compose.ts';
export * from './upload.ts';
