/**
 * A test-only preload for fcos-run (`node --import <this> bin/fcos-run.js ...`) giving the torture
 * test kill points inside the cache's own writes, which no event marks: it wraps `link` and
 * `rename` of node:fs/promises (the cache's modules import them by name; syncBuiltinESMExports
 * makes those bindings see the wrappers) and names two moments:
 *   blob-linked    a blob has just been linked into blobs/sha256/ (its staging name and its stamp
 *                  not yet dealt with),
 *   record-staged  an action record is written in full under tmp/ and about to be renamed into
 *                  actions/.
 * FCOS_TORTURE_COUNT_FILE: every moment is appended to that file as `<moment> <path>` (a reference
 * run counts them). FCOS_TORTURE_PAUSE=<moment>:<n> with FCOS_TORTURE_PAUSED_FILE: at the n-th such
 * moment the process writes that file and blocks (its tools keep running) until it is killed,
 * or for 60 s at most. The kill itself comes from outside, as a real one does.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { createRequire, syncBuiltinESMExports } from 'node:module';

const require = createRequire(import.meta.url);
const fsPromises = require('node:fs/promises');

const countFile = process.env.FCOS_TORTURE_COUNT_FILE;
const [pauseMoment, pauseAt] = (process.env.FCOS_TORTURE_PAUSE ?? '').split(':');
const pausedFile = process.env.FCOS_TORTURE_PAUSED_FILE;
const BLOB = /\/blobs\/sha256\/[0-9a-f]{2}\/[0-9a-f]{64}$/;
const RECORD = /\/actions\/[0-9a-f]{2}\/[0-9a-f]{64}\.json$/;
const seen = { 'blob-linked': 0, 'record-staged': 0 };

/** Counts `moment` at `destination`; pauses the whole process when it is the one asked for. */
function reached(moment, destination) {
  seen[moment]++;
  if (countFile) appendFileSync(countFile, `${moment} ${destination}\n`);
  if (moment !== pauseMoment || seen[moment] !== Number(pauseAt) || !pausedFile) return;
  writeFileSync(pausedFile, `${moment} ${seen[moment]} ${destination}\n`);
  // Blocks the event loop: nothing of fcos-run moves on until the kill.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 60_000);
}

const originalLink = fsPromises.link;
const originalRename = fsPromises.rename;
fsPromises.link = async (existing, destination) => {
  await originalLink(existing, destination);
  if (BLOB.test(String(destination))) reached('blob-linked', String(destination));
};
fsPromises.rename = async (source, destination) => {
  if (RECORD.test(String(destination))) reached('record-staged', String(destination));
  return originalRename(source, destination);
};
syncBuiltinESMExports();
