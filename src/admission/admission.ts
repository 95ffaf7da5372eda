/**
 * Admission: what every front end (the MQTT topics, the page's websocket) asks before a message
 * becomes a command for the car, so that each rule is written once.
 *
 * - a payload is parsed at most once (`Admitted.parsed`): the stop check over the budget, the
 *   flood guard's and the car's reading share one parse (src/core/commands.ts);
 * - a budget per source (CommandBudget): over it only a stop gets through (`take`), refused
 *   with the same answer (`tooMany`) and log line (`overBudget`) whatever the front end;
 * - rejections logged once per source and window (Repeats), the rest summed up;
 * - the size limit (`tooLarge`), the same for every front end as for the parser.
 *
 * The MQTT front end adds its own rules on top (retained and empty messages, the flood guard,
 * the stop topic's budget: src/mqtt/front.ts); the page its own (binary frames).
 */
import { MAX_PAYLOAD_BYTES, parseCommand, type Parsed } from '../core/commands';
import { NotStops, type CommandBudget } from './budget';
import { Repeats } from './repeats';

export { MAX_PAYLOAD_BYTES };

/** Reads a payload into a command or a rejection: parseCommand, or a test's counting stand-in. */
export type Parse = (payload: Buffer | string) => Parsed;

/** What admission writes to: the logger, or anything with its two levels. */
export interface AdmissionLog {
  warn(message: string): unknown;
  info(message: string): unknown;
}

/** A message let in: its payload and its parse, made once, when first asked for. */
export interface Admitted {
  readonly payload: Buffer | string;
  readonly parsed: Parsed;
}

/** An Admitted whose parse is made at most once, when first read. */
class LazilyParsed implements Admitted {
  private made?: Parsed;

  constructor(
    readonly payload: Buffer | string,
    private readonly parse: Parse,
    made?: Parsed,
  ) {
    this.made = made;
  }

  get parsed(): Parsed {
    return (this.made ??= this.parse(this.payload));
  }

  /** Whether it has been parsed already. */
  get known(): boolean {
    return this.made !== undefined;
  }
}

/** Parses kept from one decision to the next (the shedder's stop check to the message mqtt.js hands over). */
const KEPT_PARSES = 8;

/** The answer to a command over its source's budget: the same for every front end. */
export type TooMany = {
  error: 'too many commands';
  limit: number;
};

export class Admission {
  /** Rejected input, one line per source and 10 s plus a count, however much of it arrives. */
  readonly rejections: Repeats;
  private readonly notStops = new NotStops();
  /** Parses made before their message reached its front end (the shedder's), in order. */
  private readonly kept: { bytes: Buffer; parsed: Parsed }[] = [];

  constructor(
    private readonly log: AdmissionLog,
    /** `commandsPerSecond` (0 = no limit): what `tooMany` and `overBudget` say. */
    readonly perSecond: number,
    private readonly parse: Parse = parseCommand,
  ) {
    this.rejections = new Repeats(log);
  }

  /**
   * The payload as a command to be: parsed once, when the stop check or the car first asks.
   * A parse the shedder made of the same bytes before mqtt.js handed them over is used again.
   */
  admitted(payload: Buffer | string): Admitted {
    if (this.kept.length > 0 && typeof payload !== 'string') {
      const i = this.kept.findIndex((k) => k.bytes.equals(payload));
      if (i >= 0) {
        const [{ parsed }] = this.kept.splice(i, 1);
        return new LazilyParsed(payload, this.parse, parsed);
      }
    }
    return new LazilyParsed(payload, this.parse);
  }

  /**
   * Whether the message is a stop. Asked only over a budget or in a flood, so a flood costs a
   * parse only while it floods, and a flood of the same few messages a comparison each.
   */
  isStop(message: Admitted): boolean {
    if (!(message as LazilyParsed).known && this.notStops.has(message.payload)) return false;
    const { parsed } = message;
    const stop = parsed.ok && parsed.command.move === 'stop';
    if (!stop) this.notStops.add(message.payload);
    return stop;
  }

  /**
   * The budget's verdict on one more message: 'ok' within it, or over it for a stop (a stop is
   * never refused for its rate); 'first' for the first message over it that is refused (worth
   * one answer and one log line), 'over' for the ones after. `binary`: not a command at all,
   * refused over the budget without being read.
   */
  take(budget: CommandBudget, message: Admitted, binary = false): 'ok' | 'first' | 'over' {
    const taken = budget.take();
    if (taken === 'ok' || (!binary && this.isStop(message))) return 'ok';
    return taken;
  }

  /**
   * The stop check and its parse made before the message reaches the front end (the flood
   * shedder's, below mqtt.js's parser): kept for `admitted` to hand on when the same bytes come.
   */
  keep(message: Admitted): void {
    const m = message as LazilyParsed;
    if (!m.known || typeof m.payload === 'string') return;
    this.kept.push({ bytes: Buffer.from(m.payload), parsed: m.parsed });
    if (this.kept.length > KEPT_PARSES) this.kept.shift();
  }

  /** The answer to a message refused for its rate. */
  tooMany(): TooMany {
    return { error: 'too many commands', limit: this.perSecond };
  }

  /**
   * Counts a command refused for its rate; the first of a window is logged in full.
   * `who`: the source as the line names it (`remote: rejected commands from 10.0.0.7`).
   */
  overBudget(source: string, who: string = source, prefix = ''): void {
    if (this.rejections.admit(source)) {
      this.log.warn(
        `${prefix}rejected commands from ${who}: more than ${this.perSecond} a second (commandsPerSecond); only stop is obeyed until they slow down`,
      );
    }
  }

  /** Whether a payload of `bytes` is over the limit of a command (docs/mqtt.md), before it is read at all. */
  tooLarge(bytes: number): boolean {
    return bytes > MAX_PAYLOAD_BYTES;
  }

  /** Writes the rejections' summaries (at shutdown). */
  close(): void {
    this.rejections.close();
  }
}
