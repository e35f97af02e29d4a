/**
 * GRUB's menu in a test VM, skipped as a person at the serial console would skip it: Enter is
 * pressed when the countdown shows. The image's grub.cfg keeps its timeout (1 s, as Fedora
 * CoreOS's); the entry booted is the one GRUB highlighted, which grub.cfg chose from grubenv (boot
 * counting, fallback), so only the wait goes. If the key is late or lost, the countdown runs out as
 * before.
 */
import { createConnection } from 'node:net';

/** GRUB's countdown line (the menu is drawn and reads keys). */
export const GRUB_COUNTDOWN = /will be executed automatically in \d+s/;

/** Enter on a serial line. */
const ENTER = '\r';

/** Sends Enter to the serial console's socket (QEMU's socket chardev); false if it could not. */
export function pressEnter(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(socketPath, () => {
      socket.end(ENTER, () => resolve(true));
    });
    // Never fails the boot: without the key GRUB boots the same entry a second later.
    socket.on('error', () => resolve(false));
    // What the guest writes meanwhile is in the console log already (the chardev's logfile).
    socket.on('data', () => undefined);
  });
}
