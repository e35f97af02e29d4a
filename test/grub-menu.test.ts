import { createServer } from 'node:net';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { GRUB_COUNTDOWN, pressEnter } from '../lib/vm/grub-menu.ts';
import { makeTempDir } from './helpers/temp-project.ts';

describe('GRUB menu skip', () => {
  it("recognizes GRUB's countdown and not the lines around it", () => {
    expect(GRUB_COUNTDOWN.test('The highlighted entry will be executed automatically in 1s.')).toBe(true);
    expect(GRUB_COUNTDOWN.test('Press enter to boot the selected OS')).toBe(false);
    expect(GRUB_COUNTDOWN.test("Booting `Fedora CoreOS 41 (ostree:0)'")).toBe(false);
  });

  it("sends Enter to the console's socket, and gives up quietly when nobody listens", async () => {
    const directory = await makeTempDir('fcos-grub-menu-');
    const socketPath = path.join(directory, 'console.sock');
    let resolveReceived: (text: string) => void = () => undefined;
    const received = new Promise<string>((resolve) => {
      resolveReceived = resolve;
    });
    const server = createServer((connection) => {
      let text = '';
      connection.on('data', (data) => {
        text += data.toString('latin1');
      });
      connection.on('end', () => resolveReceived(text));
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    expect(await pressEnter(socketPath)).toBe(true);
    expect(await received).toBe('\r');
    server.close();
    expect(await pressEnter(path.join(directory, 'absent.sock'))).toBe(false);
  });
});
