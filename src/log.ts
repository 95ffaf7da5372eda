import winston from 'winston';
import { Writable } from 'node:stream';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type LogFormat = 'auto' | 'text' | 'journald' | 'json';
export type Logger = winston.Logger;

export const LOG_LEVELS: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/** sd-daemon(3) priorities: journald reads a leading `<N>` as the line's priority. */
const SYSLOG_PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

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

/** Every line gets the prefix: journald reads each line of a stack trace as an entry of its own. */
export function journaldLines(level: LogLevel, text: string): string {
  return text
    .split('\n')
    .map((line) => `<${SYSLOG_PRIORITY[level]}>${line}`)
    .join('\n');
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

export interface RepeatsOptions {
  /** How long one summary covers (default 10 s). */
  windowMs?: number;
  /** Sources tracked one by one in a window; the rest are counted together (default 16). */
  maxSources?: number;
  /** The summary line (default "<count> more rejected from <source> in the last <seconds> s"). */
  summary?: (count: number, source: string, seconds: number) => string;
  /** Its level (default warn). */
  level?: 'warn' | 'info';
}

/**
 * Keeps a flood of rejections out of the journal: the first rejection from a source in a
 * window is logged in full, the rest are only counted, and at the end of the window one line
 * says how many there were ("412 more rejected from remote 10.0.0.7 in the last 10 s").
 * `admit` is a Map lookup and an increment; nothing is formatted for a line not written.
 */
export class Repeats {
  private readonly counts = new Map<string, number>();
  private readonly windowMs: number;
  private readonly maxSources: number;
  private readonly summary: (count: number, source: string, seconds: number) => string;
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly log: { warn(message: string): unknown; info(message: string): unknown },
    private readonly options: RepeatsOptions = {},
  ) {
    this.windowMs = options.windowMs ?? 10_000;
    this.maxSources = options.maxSources ?? 16;
    this.summary = options.summary ?? ((count, source, seconds) => `${count} more rejected from ${source} in the last ${seconds} s`);
  }

  /** True if the caller should log this rejection now; false if it was counted for the summary. */
  admit(source: string): boolean {
    const count = this.counts.get(source);
    if (count !== undefined) {
      this.counts.set(source, count + 1);
      return false;
    }
    if (this.counts.size >= this.maxSources) {
      this.counts.set(OTHERS, (this.counts.get(OTHERS) ?? 0) + 1);
      return false;
    }
    this.counts.set(source, 0);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.windowMs);
      // A summary is not worth keeping the process alive for; close() writes it on the way out.
      this.timer.unref();
    }
    return true;
  }

  /** Writes the summaries of the window so far and starts a new window. */
  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const seconds = Math.round(this.windowMs / 1000);
    for (const [source, count] of this.counts) {
      if (count === 0) continue;
      this.log[this.options.level ?? 'warn'](this.summary(count, source === OTHERS ? 'other sources' : source, seconds));
    }
    this.counts.clear();
  }

  close(): void {
    this.flush();
  }
}

const OTHERS = '\0others';
