/**
 * The dnf driver names, in one warning, every treefile key it does not act on (rpm-ostree would),
 * instead of dropping it silently.
 */
import { describe, expect, it } from 'vitest';
import { keysIgnoredByDnfDriver } from '../stages/rpm-ostree-compose/dnf-driver.ts';

describe('keys the dnf driver does not act on', () => {
  it('are none for the keys it handles, and named for the others', () => {
    expect(keysIgnoredByDnfDriver({ ref: 'x', packages: [], basearch: 'x86_64', variables: {} })).toEqual([]);
    expect(keysIgnoredByDnfDriver({ ref: 'x', units: [], 'check-passwd': { type: 'none' } })).toEqual([
      'check-passwd',
      'units',
    ]);
  });
});
