/**
 * carbot's log: one line per message on stdout (journald under systemd), in the text,
 * journald or JSON format. Lines go straight to the stream, those of 10 ms together (BATCH_MS).
 *
 * It was winston until issue 14: winston sent every line through a Transform stream, a pipe
 * and its transport, which was a third of the CPU a command cost outside mqtt.js, and loading
 * it was a quarter of carbot's memory over bare Node's (docs/performance.md). The lines are
 * the same, byte for byte; the JSON lines are winston's `timestamp()` + `json()` format.
 */
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import { journaldLines } from './journald';

export { journaldLines };

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'auto' | 'text' | 'journald' | 'json';

/**
 * What carbot asks of a logger. A winston logger fits it too (the tests' fakes use one):
 * the methods by level, `isLevelEnabled`, and `end()` with its `finish` for flushLogger.
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

type LineFormat = (level: LogLevel, message: string) => string;

function lineFormat(kind: Exclude<LogFormat, 'auto'>, colour: boolean): LineFormat {
  if (kind === 'journald') return journaldLines;
  // The keys in winston's order (its json() sorts them), its timestamp (ISO 8601, UTC).
  if (kind === 'json') return (level, message) => JSON.stringify({ level, message, timestamp: new Date().toISOString() });
  return (level, message) => {
    const label = level.padEnd(5);
    const shown = colour ? `${COLOURS[level]}${label}\x1b[0m` : label;
    return `${localTimestamp()} ${shown} ${message}`;
  };
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

/** Loggers with lines waiting: written out if the process exits before their timer ran. */
const waiting = new Set<LineLogger>();
let exitHook = false;

class LineLogger extends EventEmitter implements Logger {
  private ended = false;
  private readonly threshold: number;
  private pending = '';
  private timer?: NodeJS.Timeout;

  constructor(
    level: LogLevel,
    private readonly format: LineFormat,
    private readonly write: (text: string) => void,
  ) {
    super();
    this.threshold = LOG_LEVELS[level];
  }

  readonly error = (message: string): void => this.log('error', message);
  readonly warn = (message: string): void => this.log('warn', message);
  readonly info = (message: string): void => this.log('info', message);
  readonly debug = (message: string): void => this.log('debug', message);

  isLevelEnabled(level: LogLevel): boolean {
    return LOG_LEVELS[level] <= this.threshold;
  }

  get writableEnded(): boolean {
    return this.ended;
  }

  /** No more lines: those waiting are written now, and `finish` follows on the next turn. */
  end(): this {
    if (!this.ended) {
      this.ended = true;
      this.flush();
      setImmediate(() => this.emit('finish'));
    }
    return this;
  }

  private log(level: LogLevel, message: string): void {
    if (this.ended || LOG_LEVELS[level] > this.threshold) return;
    // Formatted now: a line's timestamp is when it was logged.
    this.pending += `${this.format(level, String(message))}\n`;
    if (this.timer) return;
    this.timer = setTimeout(this.flush, BATCH_MS);
    waiting.add(this);
    if (!exitHook) {
      exitHook = true;
      process.on('exit', () => waiting.forEach((l) => l.flush()));
    }
  }

  readonly flush = (): void => {
    clearTimeout(this.timer);
    this.timer = undefined;
    waiting.delete(this);
    if (this.pending === '') return;
    const text = this.pending;
    this.pending = '';
    this.write(text);
  };
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

export function createLogger(options: LogOptions): Logger {
  const stream = options.stream ?? process.stdout;
  const kind = resolveFormat(options.format, options.env ?? process.env);
  const write = survivable(stream, (err) => {
    // stderr may be gone too; nothing else is left to tell.
    if (stream !== process.stderr && !process.stderr.destroyed) process.stderr.write(`carbot: log output failed (${err.message}); log lines are dropped from now on\n`);
  });
  return new LineLogger(options.level, lineFormat(kind, kind === 'text' && stream.isTTY === true), write);
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
