import type { EventEmitter } from 'node:events';
import type { Admitted } from '../admission/admission';

/**
 * What a front end other than MQTT (the browser remote) may see and do: exactly what an
 * MQTT client can, through the same command path, so there is one place a decision is made.
 */
export interface CarView extends EventEmitter {
  /**
   * Handle a command the front end's admission let in (src/admission/admission.ts), already
   * parsed, as one from the move topic would be (not retained); returns the RESULT object.
   */
  obey(command: Admitted, source: string): Record<string, unknown>;
  /** The latest STATE object (the JSON published on tele/<device>/STATE). */
  state(): Record<string, unknown>;
  /** Whether carbot is connected to its MQTT broker right now. */
  brokerOnline(): boolean;
  /** The `source` of the last command the car took, e.g. `mqtt` or `remote 192.168.1.20`. */
  lastCommandSource(): string | undefined;
  /**
   * The front end `source` went away: if it sent the last command and the car moves or a task
   * is under way, stop and end the task with reason `disconnect` (not `command`: nobody
   * asked), unless stopOnDisconnect is off.
   */
  driverLost(source: string): void;
  /** Whether the car moves or a task is under way (even one waiting at a stop, motors at 0). */
  driving(): boolean;
  // Events: 'state' (state: Record<string, unknown>) after every STATE change;
  //         'link' (online: boolean) when the broker connection comes or goes.
}
