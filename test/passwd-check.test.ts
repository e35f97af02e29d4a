/**
 * check-passwd and check-groups as rpm-ostree's rust/src/passwd.rs applies them, table by table:
 * how passwd and group lines are read (nameservice/{passwd,group}.rs), which entries of a tree
 * count (those rpm-ostree's compose would hold in /usr/lib), each rule with its message, and the
 * validation of a root against each type of reference (file, data, none, previous without a
 * previous commit) with the typed error naming the key and every offender.
 */
import { chown, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PasswdCheckError } from '../lib/compose/errors.ts';
import { type CheckOptions, checkGroups, checkUsers, type TreeOwners } from '../lib/compose/passwd-check.ts';
import {
  PasswdParseError,
  parseGroup,
  parsePasswd,
  type UserIds,
  usrLibGroups,
  usrLibUsers,
} from '../lib/compose/passwd-entries.ts';
import { treeOwners, validatePasswdAndGroups } from '../lib/compose/passwd-validation.ts';
import { runTool } from '../lib/exec.ts';
import { composeTreefileSchema } from '../lib/treefile/compose-input.ts';
import { makeTempDir } from './helpers/temp-project.ts';

/** Users from `name: [uid, gid]`. */
function users(entries: Record<string, [number, number]>): Map<string, UserIds> {
  return new Map(Object.entries(entries).map(([name, [uid, gid]]) => [name, { uid, gid }]));
}

/** Groups from `name: gid`. */
function groups(entries: Record<string, number>): Map<string, number> {
  return new Map(Object.entries(entries));
}

/** Owners of a tree: uid and gid 0 (root-owned files), plus `extra`. */
function owners(...extra: number[]): TreeOwners {
  return { uids: new Set([0, ...extra]), gids: new Set([0, ...extra]) };
}

describe('passwd and group lines, as rpm-ostree parses them', () => {
  it.each([
    ['a full line', 'core:x:1000:1000:CoreOS Admin:/var/home/core:/bin/bash\n', { core: [1000, 1000] }],
    ['an empty shell field', 'sync:x:5:0:sync:/sbin:\n', { sync: [5, 0] }],
    ['colons in the last field are kept in it', 'odd:x:7:7:a:b:c:d\n', { odd: [7, 7] }],
    [
      'comments, empty and NSS compat lines skipped',
      '# users\n\n+nis\n-bob\nbin:x:1:1:bin:/bin:/sbin/nologin\n',
      { bin: [1, 1] },
    ],
    ['CRLF line ends', 'bin:x:1:1:bin:/bin:/sbin/nologin\r\n', { bin: [1, 1] }],
    ['a name listed twice: the later line wins', 'a:x:1:1:::\na:x:2:2:::\n', { a: [2, 2] }],
    ['a + sign on an id, as Rust parses u32', 'p:x:+3:4:::\n', { p: [3, 4] }],
  ])('%s', (_name, content, expected) => {
    expect(Object.fromEntries(parsePasswd(content, 'passwd'))).toEqual(
      Object.fromEntries(Object.entries(expected).map(([name, [uid, gid]]) => [name, { uid, gid }])),
    );
  });

  it.each([
    ['six fields', 'bin:x:1:1:bin:/bin\n', 0],
    ['a non-numeric uid', '# header\nbin:x:one:1:bin:/bin:/sbin/nologin\n', 1],
    ['a negative gid', 'bin:x:1:-1:bin:/bin:/sbin/nologin\n', 0],
    ['an id above u32', 'big:x:4294967296:1:::\n', 0],
  ])('rejects %s with the 0-based line number, as rpm-ostree', (_name, content, line) => {
    expect(() => parsePasswd(content, 'my-passwd')).toThrow(PasswdParseError);
    expect(() => parsePasswd(content, 'my-passwd')).toThrow(
      new RegExp(`^my-passwd: failed to parse passwd entry at line ${line}, content: `),
    );
  });

  it.each([
    ['members', 'wheel:x:10:core,admin\n', { wheel: 10 }],
    ['no members', 'nobody:x:65534:\n', { nobody: 65534 }],
    ['comments and compat lines skipped', '#g\n+x\nadm:x:4:\n', { adm: 4 }],
  ])('group: %s', (_name, content, expected) => {
    expect(Object.fromEntries(parseGroup(content, 'group'))).toEqual(expected);
  });

  it('group: rejects a line with three fields', () => {
    expect(() => parseGroup('root:x:0\n', 'g')).toThrow(
      'g: failed to parse group entry at line 0, content: root:x:0',
    );
  });
});

describe("the entries rpm-ostree's compose holds in /usr/lib (what its check compares)", () => {
  it.each([
    [
      'a dnf-driver tree: all users in /usr/etc/passwd, root not counted',
      { usrLib: undefined, usrEtc: 'root:x:0:0:::\nbin:x:1:1:::\n' },
      { bin: { uid: 1, gid: 1 } },
    ],
    [
      'an rpm-ostree tree: root in /usr/etc, the others in /usr/lib',
      { usrLib: 'bin:x:1:1:::\n', usrEtc: 'root:x:0:0:::\n' },
      { bin: { uid: 1, gid: 1 } },
    ],
    [
      'an entry in both: the /usr/etc one, appended after',
      { usrLib: 'bin:x:1:1:::\n', usrEtc: 'bin:x:2:2:::\n' },
      { bin: { uid: 2, gid: 2 } },
    ],
    ['no files at all', { usrLib: undefined, usrEtc: undefined }, {}],
    ['any user with uid 0 stays in /etc', { usrLib: undefined, usrEtc: 'toor:x:0:5:::\n' }, {}],
  ])('users: %s', (_name, files, expected) => {
    expect(Object.fromEntries(usrLibUsers(files, 'tree'))).toEqual(expected);
  });

  it('groups: every one but gid 0 (etc-group-members are copied to /etc, not moved)', () => {
    const files = { usrLib: undefined, usrEtc: 'root:x:0:\nwheel:x:10:core\nadm:x:4:\n' };
    expect(Object.fromEntries(usrLibGroups(files, 'tree'))).toEqual({ wheel: 10, adm: 4 });
  });
});

describe('check-passwd rules', () => {
  const base: CheckOptions = { ignoreRemoved: undefined, owners: owners() };
  it.each<
    [
      string,
      Record<string, [number, number]>,
      Record<string, [number, number]>,
      CheckOptions,
      string[],
      string[],
    ]
  >([
    ['the same users pass', { bin: [1, 1] }, { bin: [1, 1] }, base, [], []],
    [
      'a new user passes and is noted',
      { bin: [1, 1], core: [1000, 1000] },
      { bin: [1, 1] },
      base,
      [],
      ['New passwd entries: core'],
    ],
    [
      'a removed user whose uid owns files fails',
      { bin: [1, 1] },
      { bin: [1, 1], root: [0, 0] },
      base,
      ['User missing from new passwd file: root'],
      [],
    ],
    [
      'a removed user owning nothing is only noted',
      {},
      { ghost: [4242, 4242] },
      base,
      [],
      ['Unused user removed from new passwd file: ghost'],
    ],
    [
      'a removed user in ignore-removed-users is noted, even owning files',
      {},
      { root: [0, 0] },
      { ...base, ignoreRemoved: ['root'] },
      [],
      ['Ignored user missing from new passwd file: root'],
    ],
    [
      "'*' ignores every removed user",
      {},
      { root: [0, 0], adm: [3, 4] },
      { ignoreRemoved: ['*'], owners: owners(3) },
      [],
      ['Ignored user missing from new passwd file: adm', 'Ignored user missing from new passwd file: root'],
    ],
    [
      'only the uid counts for ownership of a removed user',
      {},
      { ghost: [4242, 0] },
      base,
      [],
      ['Unused user removed from new passwd file: ghost'],
    ],
    ['a changed uid fails', { bin: [2, 1] }, { bin: [1, 1] }, base, ['passwd UID changed: bin (1 to 2)'], []],
    ['a changed gid fails', { bin: [1, 2] }, { bin: [1, 1] }, base, ['passwd GID changed: bin (1 to 2)'], []],
    [
      'uid and gid changed: the uid is reported',
      { bin: [2, 2] },
      { bin: [1, 1] },
      base,
      ['passwd UID changed: bin (1 to 2)'],
      [],
    ],
    [
      'every offender, missing ones first, each sorted by name',
      { zed: [9, 9], amy: [8, 7] },
      { zed: [1, 1], amy: [8, 8], root: [0, 0], bob: [5, 5] },
      { ...base, owners: owners(5) },
      [
        'User missing from new passwd file: bob',
        'User missing from new passwd file: root',
        'passwd GID changed: amy (8 to 7)',
        'passwd UID changed: zed (1 to 9)',
      ],
      [],
    ],
  ])('%s', (_name, composed, reference, options, offences, notes) => {
    expect(checkUsers(users(composed), users(reference), options)).toEqual({ offences, notes });
  });
});

describe('check-groups rules', () => {
  const base: CheckOptions = { ignoreRemoved: undefined, owners: owners() };
  it.each<[string, Record<string, number>, Record<string, number>, CheckOptions, string[], string[]]>([
    ['the same groups pass', { adm: 4 }, { adm: 4 }, base, [], []],
    [
      'a new group passes and is noted',
      { adm: 4, sudo: 16, core: 1000 },
      { adm: 4 },
      base,
      [],
      ['New group entries: core, sudo'],
    ],
    [
      'a removed group whose gid owns files fails',
      {},
      { root: 0 },
      base,
      ['Group missing from new group file: root'],
      [],
    ],
    [
      'a removed group owning nothing is only noted',
      {},
      { video: 39 },
      base,
      [],
      ['Unused group removed from new group file: video'],
    ],
    [
      'a removed group in ignore-removed-groups is noted',
      {},
      { root: 0 },
      { ...base, ignoreRemoved: ['root'] },
      [],
      ['Ignored group missing from new group file: root'],
    ],
    [
      "'*' ignores every removed group",
      {},
      { wheel: 10 },
      { ignoreRemoved: ['*'], owners: owners(10) },
      [],
      ['Ignored group missing from new group file: wheel'],
    ],
    [
      'a changed gid fails (old to new)',
      { adm: 5 },
      { adm: 4 },
      base,
      ['group GID changed: adm (4 to 5)'],
      [],
    ],
  ])('%s', (_name, composed, reference, options, offences, notes) => {
    expect(checkGroups(groups(composed), groups(reference), options)).toEqual({ offences, notes });
  });
});

describe('validating a composed root', () => {
  /** A root in the ostree layout with these usr/etc/passwd and usr/etc/group, and a compose input directory. */
  async function fixture(passwd: string, group: string) {
    const directory = await makeTempDir();
    const root = path.join(directory, 'rootfs');
    await mkdir(path.join(root, 'usr/etc'), { recursive: true });
    await writeFile(path.join(root, 'usr/etc/passwd'), passwd);
    await writeFile(path.join(root, 'usr/etc/group'), group);
    const input = path.join(directory, 'input');
    await mkdir(input);
    return { root, input, repo: path.join(directory, 'no-repo') };
  }

  /** Runs the validation with `treefile` (parsed as the compose reads treefile.json). */
  async function validate(
    where: { root: string; input: string; repo: string },
    treefile: Record<string, unknown>,
    log: string[] = [],
  ) {
    await validatePasswdAndGroups({
      exec: (file, args, options) => runTool(file, args, options),
      root: where.root,
      treefile: composeTreefileSchema.parse({ ref: 'test/x86_64', ...treefile }),
      inputDirectory: where.input,
      ostreeRepo: where.repo,
      constructPath: 'testing/Compose',
      log: (line) => log.push(line),
    });
  }

  const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nbin:x:1:1:bin:/bin:/sbin/nologin\n';
  const GROUP = 'root:x:0:\nbin:x:1:\nwheel:x:10:\n';

  it('type file: the same files pass once root is ignored (fedora-coreos-config does so), and fail naming root otherwise', async () => {
    const where = await fixture(PASSWD, GROUP);
    await writeFile(path.join(where.input, 'check-passwd'), PASSWD);
    await writeFile(path.join(where.input, 'check-groups'), GROUP);
    const files = {
      'check-passwd': { type: 'file', filename: 'check-passwd' },
      'check-groups': { type: 'file', filename: 'check-groups' },
    };
    const log: string[] = [];
    await validate(
      where,
      { ...files, 'ignore-removed-users': ['root'], 'ignore-removed-groups': ['root'] },
      log,
    );
    expect(log).toEqual([
      'check-passwd: Ignored user missing from new passwd file: root',
      'check-groups: Ignored group missing from new group file: root',
    ]);
    const error = await validate(where, files).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(PasswdCheckError);
    expect(error).toMatchObject({
      constructPath: 'testing/Compose',
      field: 'check-passwd',
      message:
        'check-passwd (type file): 1 user failed the check:\n  User missing from new passwd file: root',
    });
  });

  it('type file: a user missing whose uid owns a file of the tree fails naming it; the groups are checked after', async () => {
    const where = await fixture(PASSWD, GROUP);
    await writeFile(path.join(where.input, 'passwd'), `${PASSWD}ghost:x:4242:4242::/:/sbin/nologin\n`);
    await writeFile(path.join(where.input, 'group'), `${GROUP}ghosts:x:4243:\n`);
    await mkdir(path.join(where.root, 'usr/share/ghost'), { recursive: true });
    await chown(path.join(where.root, 'usr/share/ghost'), 4242, 4243);
    const treefile = {
      'check-passwd': { type: 'file', filename: 'passwd' },
      'check-groups': { type: 'file', filename: 'group' },
      'ignore-removed-users': ['root'],
      'ignore-removed-groups': ['root'],
    };
    await expect(validate(where, treefile)).rejects.toMatchObject({
      field: 'check-passwd',
      message: expect.stringContaining('User missing from new passwd file: ghost'),
    });
    await expect(
      validate(where, { ...treefile, 'ignore-removed-users': ['root', 'ghost'] }),
    ).rejects.toMatchObject({
      field: 'check-groups',
      message:
        'check-groups (type file): 1 group failed the check:\n  Group missing from new group file: ghosts',
    });
  });

  it('type data: ids inline ([uid, gid], [id] and id), a changed uid fails with both ids', async () => {
    const where = await fixture(PASSWD, GROUP);
    const log: string[] = [];
    await validate(
      where,
      {
        'check-passwd': { type: 'data', entries: { bin: [1, 1] } },
        'check-groups': { type: 'data', entries: { bin: 1 } },
      },
      log,
    );
    expect(log).toEqual(['check-groups: New group entries: wheel']);
    await expect(
      validate(where, {
        'check-passwd': { type: 'data', entries: { bin: 7 } },
        'check-groups': { type: 'none' },
      }),
    ).rejects.toThrow(
      'check-passwd (type data): 1 user failed the check:\n  passwd UID changed: bin (7 to 1)',
    );
    await validate(where, {
      'check-passwd': { type: 'data', entries: { bin: [1] } },
      'check-groups': { type: 'none' },
    });
  });

  it('type none and previous without a previous commit (the default) check nothing; new entries are noted', async () => {
    const where = await fixture(PASSWD, GROUP);
    const log: string[] = [];
    await validate(where, {}, log);
    expect(log).toEqual([
      'check-passwd: New passwd entries: bin',
      'check-groups: New group entries: bin, wheel',
    ]);
    await validate(where, { 'check-passwd': { type: 'none' }, 'check-groups': { type: 'none' } });
  });

  it('a malformed reference line fails naming the key and the line', async () => {
    const where = await fixture(PASSWD, GROUP);
    await writeFile(path.join(where.input, 'check-groups'), 'wheel:x:ten:\n');
    await expect(
      validate(where, { 'check-groups': { type: 'file', filename: 'check-groups' } }),
    ).rejects.toMatchObject({
      field: 'check-groups',
      message:
        'check-groups: check-groups file check-groups: failed to parse group entry at line 0, content: wheel:x:ten:',
    });
  });

  it('finds the owners of every file, directory and symlink, not following links', async () => {
    const where = await fixture(PASSWD, GROUP);
    await mkdir(path.join(where.root, 'usr/lib'), { recursive: true });
    await writeFile(path.join(where.root, 'usr/lib/data'), 'x');
    await chown(path.join(where.root, 'usr/lib/data'), 301, 302);
    const { symlink, lchown } = await import('node:fs/promises');
    await symlink('data', path.join(where.root, 'usr/lib/link'));
    await lchown(path.join(where.root, 'usr/lib/link'), 303, 304);
    const found = await treeOwners(where.root);
    expect([...found.uids].sort()).toEqual([0, 301, 303]);
    expect([...found.gids].sort()).toEqual([0, 302, 304]);
  });
});
