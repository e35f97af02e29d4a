// The child process of the ChunkStep test kind: optionally leaves a grandchild `sleep 300` that
// ignores SIGTERM, SIGINT and SIGHUP in its process group (only SIGKILL removes it), then writes
// CHUNKS chunks of CHUNK_KIB KiB, printing `chunk I/CHUNKS written` after each and pausing
// DELAY_MS. A chunk's bytes are a line naming the seed, the inputs' sha256 and its number,
// repeated: the output is a pure function of the seed, the inputs and the sizes.
const fs = require('node:fs');
const crypto = require('node:crypto');
const { spawn } = require('node:child_process');

const [out, seed, chunks, chunkKiB, delayMs, grandchild, ...inputs] = process.argv.slice(2);
if (grandchild === '1') {
  // `trap '' ...` makes the signals ignored, and exec keeps them ignored in sleep.
  spawn('/bin/sh', ['-c', "trap '' TERM INT HUP; exec sleep 300"], { stdio: 'ignore' });
}
const basis = crypto.createHash('sha256').update(seed);
for (const input of inputs) basis.update(crypto.createHash('sha256').update(fs.readFileSync(input)).digest());
const header = basis.digest('hex');
const size = Number(chunkKiB) * 1024;
const total = Number(chunks);
const file = fs.openSync(out, 'w');
let written = 0;

/** Writes the next chunk, then schedules the one after it or finishes. */
function writeChunk() {
  const line = Buffer.from(`${seed} ${header} chunk ${written + 1}\n`);
  const chunk = Buffer.alloc(size);
  for (let offset = 0; offset < size; offset += line.length) line.copy(chunk, offset);
  fs.writeSync(file, chunk);
  written++;
  fs.writeSync(1, `chunk ${written}/${total} written\n`);
  if (written < total) {
    setTimeout(writeChunk, Number(delayMs));
    return;
  }
  fs.closeSync(file);
  process.exit(0);
}
writeChunk();
