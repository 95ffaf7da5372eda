/**
 * carbot's log: winston, with one line per message on stdout (journald under systemd), in the
 * text, journald or JSON format, through a transport of carbot's own (LineTransport) that
 * writes the lines of 10 ms together (BATCH_MS).
 *
 * Issue 14 had replaced winston by hand-written lines for speed; issue 19 brought it back, so
 * users get the logger they know (its formats and transports, `logger.add()`), with the same
 * lines byte for byte. What it costs against the hand-written log is in docs/performance.md.
 * The JSON lines are winston's own `timestamp()` + `json()` format.
 */
import type { Writable } from 'node:stream';
import winston from 'winston';
import TransportStream from 'winston-transport';
import { journaldLines } from './journald';

export { journaldLines };

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'auto' | 'text' | 'journald' | 'json';

/**
 * What carbot asks of a logger: the winston logger's methods by level, `isLevelEnabled`, and
 * `end()` with its `finish` for flushLogger. The tests' fakes are winston loggers too.
 */
export interface Logger {
  error(message: string): unknown;
  warn(message: string): unknown;
  info(message: string): unknown;
  debug(message: string): unknown;
  isLevelEnabled(level: LogLevel): boolean;
  readonly writableEnded: boolean;
  end(): unknown;
  once(event: 'finish', listener: () => void): unknown;
}

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

/** `2026-05-04 13:02:07.` of the second last formatted: the lines of a second share it. */
let secondShown = NaN;
let secondText = '';

/** Local time to the millisecond, `2026-05-04 13:02:07.042`. */
function localTimestamp(now = Date.now()): string {
  const second = Math.floor(now / 1000);
  if (second !== secondShown) {
    const d = new Date(now);
    const p = (n: number) => String(n).padStart(2, '0');
    secondShown = second;
    secondText = `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.`;
  }
  return secondText + String(now - second * 1000).padStart(3, '0');
}

/** winston keeps the formatted line under this key (triple-beam's MESSAGE). */
const MESSAGE = Symbol.for('message');

/** The line for one message, as winston's format: journald, text, or winston's own JSON. */
function lineFormat(kind: Exclude<LogFormat, 'auto'>, colour: boolean): winston.Logform.Format {
  // The keys in winston's order (its json() sorts them), its timestamp (ISO 8601, UTC).
  if (kind === 'json') return winston.format.combine(winston.format.timestamp(), winston.format.json());
  const line = (info: winston.Logform.TransformableInfo): string => {
    const level = info.level as LogLevel;
    const message = String(info.message);
    if (kind === 'journald') return journaldLines(level, message);
    const label = level.padEnd(5);
    const shown = colour ? `${COLOURS[level]}${label}\x1b[0m` : label;
    return `${localTimestamp()} ${shown} ${message}`;
  };
  // winston.format.printf, without its closure per call.
  return winston.format((info) => {
    (info as Record<symbol, unknown>)[MESSAGE] = line(info);
    return info;
  })();
}

/**
 * How long a line waits for others to go out with it. A command's line is logged once its
 * RESULT has left (src/service.ts); written at once, it woke the reader of the log (journald,
 * a pipe) at the very moment the broker and the sender of the command needed the CPU to pass
 * that RESULT on, which showed in the round trip's tail (docs/performance.md). 10 ms later it
 * is out of their way, and the lines of commands that come faster than that go out in one
 * write and one wake-up. Whatever waits is written at exit (flushLogger, and an exit hook);
 * only a SIGKILL can lose it.
 */
const BATCH_MS = 10;

/** Transports with lines waiting: written out if the process exits before their timer ran. */
const waiting = new Set<LineTransport>();
let exitHook = false;

/**
 * The winston transport that writes carbot's lines: each formatted line (info[MESSAGE]) is
 * kept and written with those of the next BATCH_MS in one write to the stream.
 */
export class LineTransport extends TransportStream {
  private pending = '';
  private timer?: NodeJS.Timeout;

  constructor(private readonly out: (text: string) => void) {
    super();
  }

  override log(info: Record<symbol, unknown>, callback: () => void): void {
    this.pending += `${String(info[MESSAGE])}\n`;
    if (!this.timer) {
      this.timer = setTimeout(this.flush, BATCH_MS);
      waiting.add(this);
      if (!exitHook) {
        exitHook = true;
        process.on('exit', () => waiting.forEach((t) => t.flush()));
      }
    }
    callback();
  }

  /** Writes what waits, now. */
  readonly flush = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    waiting.delete(this);
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.out(text);
  };

  override close(): void {
    this.flush();
  }

  /** The stream's end (logger.end() ends its transports): what waits is written first. */
  override _final(callback: (error?: Error | null) => void): void {
    this.flush();
    callback();
  }
}

/**
 * Writes to the stream, except that once it fails (EPIPE: the reader of stdout went away)
 * lines are dropped instead of each one raising an error, whose report would be another line,
 * and so on: the car matters more than its log.
 */
function survivable(stream: Writable, onBroken: (err: Error) => void): (line: string) => void {
  let broken = false;
  stream.on('error', (err: Error) => {
    if (broken) return;
    broken = true;
    onBroken(err);
  });
  return (line) => {
    if (!broken && !stream.destroyed) stream.write(line);
  };
}

export function createLogger(options: LogOptions): winston.Logger {
  const stream = options.stream ?? process.stdout;
  const kind = resolveFormat(options.format, options.env ?? process.env);
  const write = survivable(stream, (err) => {
    // stderr may be gone too; nothing else is left to tell.
    if (stream !== process.stderr && !process.stderr.destroyed) process.stderr.write(`carbot: log output failed (${err.message}); log lines are dropped from now on\n`);
  });
  return winston.createLogger({
    levels: LOG_LEVELS,
    level: options.level,
    format: lineFormat(kind, kind === 'text' && stream.isTTY === true),
    transports: [new LineTransport(write)],
    // carbot handles its own uncaught errors (src/cli.ts): it stops the motors first.
    exitOnError: false,
  });
}

/** Resolves once every line logged so far has been handed to the stream. */
export function flushLogger(log: Logger): Promise<void> {
  for (const transport of (log as Partial<winston.Logger>).transports ?? []) if (transport instanceof LineTransport) transport.flush();
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

export { Repeats, type RepeatsOptions } from '../admission/repeats';
