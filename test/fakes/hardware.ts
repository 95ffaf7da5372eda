import { Writable } from 'node:stream';
import winston from 'winston';
import { LOG_LEVELS, type Logger } from '../../src/process/log';
import { CallLog, fakeRequire } from './call-log';
import { createFakeOnoff, FakeBoard } from './onoff';
import { createFakePigpio, type FakePigpioOptions } from './pigpio';

/** pigpio and onoff fakes sharing one call log, installed through a fake require. */
export function fakeHardware(options: FakePigpioOptions = {}) {
  const calls = new CallLog();
  const board = new FakeBoard();
  const pigpio = createFakePigpio(calls, options);
  const onoff = createFakeOnoff(calls, board);
  const requireModule = fakeRequire({ pigpio: () => pigpio, onoff: () => onoff });
  return { calls, board, pigpio, onoff, requireModule };
}

/** A winston logger whose lines ("level: message") land in `lines`. */
export function memoryLogger(): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(String(chunk).trimEnd());
      callback();
    },
  });
  const log = winston.createLogger({
    levels: LOG_LEVELS,
    level: 'debug',
    format: winston.format.printf((info) => `${info.level}: ${String(info.message)}`),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { log, lines };
}

/** Lets winston's stream pipeline deliver what was logged so far. */
export function logged(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
