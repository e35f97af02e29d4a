/**
 * Signing of published releases: the key (from the environment, or the cache's throwaway key),
 * detached file signatures, ostree commit and summary signatures. Run-side only: nothing the
 * construct side loads imports it.
 */
export * from './errors.ts';
export * from './file-signatures.ts';
export { type GnupgHome, type ListedKey, listKeys, openGnupgHome, stopAgent } from './gnupg-home.ts';
export * from './modes.ts';
export * from './ostree-signatures.ts';
export * from './signing-key.ts';
export * from './throwaway-key.ts';
