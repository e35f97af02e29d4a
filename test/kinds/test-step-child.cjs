// The child process of the TestStep test kind: sleeps, optionally leaves a grandchild `sleep`
// in its process group (recording both pids), then writes its output or exits with code 3.
const fs = require('node:fs');
const { spawn } = require('node:child_process');

const [out, content, sleepMs, fail, grandchild, pidFile, ...inputs] = process.argv.slice(2);
if (grandchild === '1') {
  const sleeper = spawn('sleep', ['300'], { stdio: 'ignore' });
  fs.writeFileSync(pidFile, `${process.pid} ${sleeper.pid}`);
}
console.log('test step working');
setTimeout(() => {
  if (fail === '1') {
    console.error('test step failing on purpose');
    process.exit(3);
  }
  fs.writeFileSync(out, content + inputs.map((file) => fs.readFileSync(file, 'utf8')).join(''));
  process.exit(0);
}, Number(sleepMs));
