/**
 * What a node may ask of signing, as its props say it. Apart from the key handling (which runs
 * tools) so that a construct's schema can name the modes without loading any of it.
 */

/**
 * `throwaway`: the key the environment names, else the cache's throwaway key (local builds);
 * `environment`: the key the environment names, else no signing; `none`: no signing.
 */
export const SIGNING_MODES = ['throwaway', 'environment', 'none'] as const;
/** One of {@link SIGNING_MODES}. */
export type SigningMode = (typeof SIGNING_MODES)[number];
