import { strict as assert } from 'node:assert';
import type { DigitalInput, Level } from '../../src/boards/types';
import { openEncoder } from '../../src/sensors/encoder';
import { memoryLogger } from '../fakes/hardware';

/**
 * A pin as the kernel reports it through onoff: a callback per interrupt, the level read
 * afterwards. `edge(level, at)` is the pin changing at a time; `fold` is several changes
 * arriving as one wakeup, as sysfs reports "the value changed" rather than each edge.
 */
class Pin implements DigitalInput {
  level: Level = 1;
  now = 0;
  closed = false;
  private callback?: (err: Error | undefined) => void;
  read(): Level {
    return this.level;
  }
  watch(callback: (err: Error | undefined) => void): void {
    this.callback = callback;
  }
  close(): void {
    this.closed = true;
  }
  edge(level: Level, at: number): void {
    this.level = level;
    this.now = at;
    this.callback?.(undefined);
  }
  fail(message: string): void {
    this.callback?.(new Error(message));
  }
}

async function counter(debounceMs = 1) {
  const pin = new Pin();
  const { log, lines } = memoryLogger();
  const encoder = await openEncoder({ pin: 17, debounceMs, pull: 'up' }, { openInput: async () => pin }, log, () => pin.now);
  const heard: number[] = [];
  encoder.onEdge(() => heard.push(pin.now));
  return { pin, encoder, heard, lines };
}

describe('wheel encoder', () => {
  it('counts every change of level, and tells each one', async () => {
    const { pin, encoder, heard } = await counter();
    for (let i = 1; i <= 10; i++) pin.edge(((i + 1) % 2) as Level, i * 10);
    assert.equal(encoder.edges, 10);
    assert.deepEqual(heard, [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]);
  });

  it('ignores chatter within debounceMs of a counted edge, and a bounce that ends where it started', async () => {
    const { pin, encoder } = await counter(2);
    pin.edge(0, 10);
    pin.edge(1, 10.5);
    pin.edge(0, 11);
    assert.equal(encoder.edges, 1);
    // A wakeup with the level back where it was counts nothing.
    pin.edge(0, 20);
    assert.equal(encoder.edges, 1);
    pin.edge(1, 30);
    assert.equal(encoder.edges, 2);
  });

  it('says once that the interrupt failed, and stops counting when closed', async () => {
    const { pin, encoder, lines } = await counter();
    pin.fail('EPOLL');
    pin.fail('EPOLL');
    assert.deepEqual(lines.filter((l) => l.includes('EPOLL')), ['warn: encoder (pin 17): EPOLL']);
    await encoder.close();
    assert.ok(pin.closed);
    pin.edge(0, 50);
    assert.equal(encoder.edges, 0);
  });

  it('names the setting when its pin cannot be opened', async () => {
    await assert.rejects(
      openEncoder({ pin: 17, debounceMs: 1, pull: 'up' }, { openInput: async () => { throw new Error('GPIO 17 is busy'); } }),
      /^Error: track.encoder: GPIO 17 is busy$/,
    );
  });
});
