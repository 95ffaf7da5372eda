/**
 * The kernel board's errors for what sysfs refuses: a channel the chip does not have, a
 * read-only file system, and the user named in the permission message. Part of ../kernel.ts.
 */
import os from 'node:os';
import { BoardError } from '../types';
import type { PwmChip } from './sysfs';

export function channelBeyond(pin: number, chip: PwmChip, channel: number): BoardError {
  return new BoardError(
    'pwm-no-channel',
    `GPIO ${pin}: ${chip.name} (${chip.device}) has ${chip.npwm} channel${chip.npwm === 1 ? '' : 's'} (npwm), ` +
      `so there is no channel ${channel}; use 0${chip.npwm > 1 ? `–${chip.npwm - 1}` : ''}.`,
  );
}

export function readOnly(pin: number, file: string, cause?: unknown): BoardError {
  return new BoardError(
    'pwm-read-only',
    `GPIO ${pin}: ${file} is on a read-only file system. Under systemd with ProtectKernelTunables=yes, ` +
      `the unit must list ReadWritePaths=-/sys/class/pwm -/sys/devices/platform (carbot.service does).`,
    cause === undefined ? undefined : { cause },
  );
}

export function safeUserName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'carbot';
  }
}
