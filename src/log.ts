import winston from 'winston';
import { Writable } from 'node:stream';
import { journaldLines } from './journald';

export { journaldLines };

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'auto' | 'text' | 'journald' | 'json';
export type Logger = winston.Logger;

export const LOG_LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

const COLOURS: Record<LogLevel, string> = { error: '\x1b[31m', warn: '\x1b[33m', info: '\x1b[32m', debug: '\x1b[90m' };

export interface LogOptions {
  level: LogLevel;
  format: LogFormat;
  /** Defaults to process.stdout: journald collects it under systemd. */
  stream?: Writable & { isTTY?: boolean };
  env?: NodeJS.ProcessEnv;
}

/** `auto` means journald under systemd (it sets JOURNAL_STREAM), plain text elsewhere. */
export function resolveFormat(format: LogFormat, env: NodeJS.ProcessEnv): Exclude<LogFormat, 'auto'> {
  if (format !== 'auto') return format;
  return env.JOURNAL_STREAM ? 'journald' : 'text';
}

function localTimestamp(d: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function lineFormat(kind: 'text' | 'journald', colour: boolean): winston.Logform.Format {
  return winston.format.printf((info) => {
    const level = info.level as LogLevel;
    const message = String(info.message);
    if (kind === 'journald') return journaldLines(level, message);
    const label = level.padEnd(5);
    const shown = colour ? `${COLOURS[level]}${label}\x1b[0m` : label;
    return `${localTimestamp(new Date())} ${shown} ${message}`;
  });
}

/**
 * The stream as winston sees it, except that once the real one fails (EPIPE: the reader of
 * stdout went away) lines are dropped instead of each one raising an error, whose report
 * would be another line, and so on: the car matters more than its log.
 */
function survivable(stream: Writable & { isTTY?: boolean }, onBroken: (err: Error) => void): Writable {
  let broken = false;
  stream.on('error', (err: Error) => {
    if (broken) return;
    broken = true;
    onBroken(err);
  });
  return new Writable({
    write(chunk: Buffer, encoding, callback) {
      if (!broken && !stream.destroyed) stream.write(chunk, encoding);
      callback();
    },
  });
}

export function createLogger(options: LogOptions): Logger {
  const stream = options.stream ?? process.stdout;
  const kind = resolveFormat(options.format, options.env ?? process.env);
  const format =
    kind === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : lineFormat(kind, kind === 'text' && stream.isTTY === true);
  return winston.createLogger({
    levels: LOG_LEVELS,
    level: options.level,
    format,
    transports: [
      new winston.transports.Stream({
        stream: survivable(stream, (err) => {
          // stderr may be gone too; nothing else is left to tell.
          if (stream !== process.stderr && !process.stderr.destroyed) process.stderr.write(`carbot: log output failed (${err.message}); log lines are dropped from now on\n`);
        }),
        eol: '\n',
      }),
    ],
  });
}

/** Resolves once every line logged so far has been handed to the stream. */
export function flushLogger(log: Logger): Promise<void> {
  return new Promise((resolve) => {
    if (log.writableEnded) return resolve();
    const timer = setTimeout(resolve, 1000);
    log.once('finish', () => {
      clearTimeout(timer);
      resolve();
    });
    log.end();
  });
}

export { Repeats, type RepeatsOptions } from './repeats';
