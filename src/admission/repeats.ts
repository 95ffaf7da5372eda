/**
 * Rejections counted and summed up instead of logged one by one; apart from the logger so that
 * the front ends that use it do not load the logger.
 */
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
