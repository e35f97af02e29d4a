// The child process of the StubbornStep test kind: prints a line every few milliseconds on both
// streams; on SIGTERM it keeps printing (as a VM shutting down does) for LINGER_MS, then exits.
const fs = require('node:fs');

const [lingerMs, pidFile] = process.argv.slice(2);
let line = 0;
const print = () => {
  line++;
  process.stdout.write(`stubborn output line ${line}\n`);
  process.stderr.write(`stubborn error line ${line}\n`);
};
setInterval(print, 5);
process.on('SIGTERM', () => {
  process.stdout.write('stubborn child got SIGTERM, still talking\n');
  setTimeout(() => process.exit(0), Number(lingerMs));
});
print();
if (pidFile) fs.writeFileSync(pidFile, String(process.pid));
