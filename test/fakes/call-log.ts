/**
 * The one ordered record that the pigpio and onoff fakes write to, so a test can assert the
 * exact sequence of hardware calls across both libraries, and make any call fail.
 */
export class CallLog {
  readonly calls: string[] = [];
  private readonly failures: { match: string | RegExp; error: Error; remaining: number }[] = [];

  /** Records a call, then throws if a failure was armed for it. */
  record(call: string): void {
    this.calls.push(call);
    const failure = this.failures.find(
      (f) => f.remaining > 0 && (typeof f.match === 'string' ? f.match === call : f.match.test(call)),
    );
    if (failure) {
      failure.remaining -= 1;
      throw failure.error;
    }
  }

  /** Makes calls equal to `match` (or matching it) throw `error`, `times` times. */
  failOn(match: string | RegExp, error: Error = new Error(`EIO: i/o error, ${String(match)}`), times = Infinity): void {
    this.failures.push({ match, error, remaining: times });
  }

  /** The calls recorded since the last take(). */
  take(): string[] {
    return this.calls.splice(0, this.calls.length);
  }
}

/** Stands in for Node's require: hands out the fakes and fails like Node for anything else. */
export function fakeRequire(modules: Record<string, () => unknown>): (id: string) => unknown {
  return (id: string) => {
    const factory = modules[id];
    if (factory) return factory();
    const err = new Error(`Cannot find module '${id}'`) as NodeJS.ErrnoException;
    err.code = 'MODULE_NOT_FOUND';
    throw err;
  };
}
