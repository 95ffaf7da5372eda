import { EventEmitter } from 'node:events';
import type { Admitted } from '../../src/admission/admission';
import type { CarView } from '../../src/http/car-view';

/**
 * A stand-in for the service behind the remote: records every command and keeps a
 * simplified STATE (no reversing delay, no limits beyond 10..100) so pages have
 * something real-looking to show.
 */
export class FakeCarView extends EventEmitter implements CarView {
  readonly commands: { payload: string; source: string }[] = [];
  online = true;
  private current: Record<string, unknown> = {
    Time: '2026-11-24T08:52:59',
    motion: 'stopped',
    speed: 50,
    reason: 'startup',
    motors: { left: 0, right: 0 },
    uptime: 12,
  };

  private lastSource?: string;

  /** What the page hands the car: the text it sent (the fake reads it itself). */
  obey(command: Admitted, source: string): Record<string, unknown> {
    return this.command(command.payload, source);
  }

  command(payload: string | Buffer, source: string): Record<string, unknown> {
    const text = payload.toString().trim().toLowerCase();
    this.commands.push({ payload: text, source });
    this.lastSource = source;
    const speed = this.current.speed as number;
    switch (text) {
      case 'forward':
      case 'backward':
        this.update({ motion: text, reason: 'command' });
        break;
      case 'stop':
        this.update({ motion: 'stopped', reason: 'command' });
        break;
      case 'faster':
        if (speed >= 100) return { move: text, motion: this.current.motion, speed, note: 'already at max' };
        this.update({ speed: speed + 10, reason: 'command' });
        break;
      case 'slower':
        this.update({ speed: Math.max(10, speed - 10), reason: 'command' });
        break;
      default:
        return { error: 'unknown command', payload: text };
    }
    return { move: text, motion: this.current.motion, speed: this.current.speed };
  }

  state(): Record<string, unknown> {
    return { ...this.current };
  }

  brokerOnline(): boolean {
    return this.online;
  }

  lastCommandSource(): string | undefined {
    return this.lastSource;
  }

  readonly lost: string[] = [];

  driving(): boolean {
    return this.current.motion !== 'stopped';
  }

  driverLost(source: string): void {
    this.lost.push(source);
    if (source === this.lastSource && this.current.motion !== 'stopped') this.update({ motion: 'stopped', reason: 'disconnect' });
  }

  /** What the service does when STATE changes for any reason (a command, a limit, a timeout). */
  update(change: Record<string, unknown>): void {
    const next = { ...this.current, ...change };
    const level = next.motion === 'forward' ? 1 : next.motion === 'backward' ? -1 : 0;
    const out = (level * (next.speed as number)) / 100;
    this.current = { ...next, motors: { left: out, right: out } };
    this.emit('state', this.state());
  }

  setBrokerOnline(online: boolean): void {
    this.online = online;
    this.emit('link', online);
  }

  commandWords(): string[] {
    return this.commands.map((c) => c.payload);
  }
}
