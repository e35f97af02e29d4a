/**
 * The dnf driver names, in one warning, every treefile key it does not act on (rpm-ostree would),
 * instead of dropping it silently.
 */
import { describe, expect, it } from 'vitest';
import { keysIgnoredByDnfDriver } from '../stages/rpm-ostree-compose/dnf-driver.ts';

describe('keys the dnf driver does not act on', () => {
  it('are none for the keys it handles, and named for the others', () => {
    expect(keysIgnoredByDnfDriver({ ref: 'x', packages: [], basearch: 'x86_64', variables: {} })).toEqual([]);
    expect(keysIgnoredByDnfDriver({ ref: 'x', units: [], 'etc-group-members': ['wheel'] })).toEqual([
      'etc-group-members',
      'units',
    ]);
    // Acted on since the dnf driver checks users and groups and adds files as rpm-ostree does.
    expect(
      keysIgnoredByDnfDriver({
        ref: 'x',
        'check-passwd': { type: 'none' },
        'check-groups': { type: 'previous' },
        'ignore-removed-users': ['root'],
        'ignore-removed-groups': ['root'],
        'add-files': [],
      }),
    ).toEqual([]);
  });
});
