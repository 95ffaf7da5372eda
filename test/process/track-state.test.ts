import { strict as assert } from 'node:assert';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { loadTrackState, saveTrackState } from '../../src/process/track-state';

describe('the state file (what the car learns, src/process/track-state.ts)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'carbot-state-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const curve = { forward: [{ duty: 0.5, speed: 0.1 }, { duty: 1, speed: 0.15 }], backward: [{ duty: 1, speed: 0.14 }] };
  const write = (body: unknown) => writeFileSync(path.join(dir, 'track.json'), typeof body === 'string' ? body : JSON.stringify(body));
  const good = { kind: 'carbot track state', version: 1, device: 'carbot', lengthM: 2.4, curve, lastHomedAt: 1 };

  it('saves atomically and loads what it saved; no file yet is no warning', () => {
    assert.deepEqual(loadTrackState(dir, 'carbot', 2.4), {});
    saveTrackState(path.join(dir, 'sub'), 'carbot', { lengthM: 2.4, curve, edgesPerTrack: 480, lagS: 0.08, lastHomedAt: 5 });
    assert.deepEqual(readdirSync(path.join(dir, 'sub')), ['track.json']);
    assert.deepEqual(loadTrackState(path.join(dir, 'sub'), 'carbot', 2.4), { state: { curve, edgesPerTrack: 480, lagS: 0.08, lastHomedAt: 5 } });
    assert.match(readFileSync(path.join(dir, 'sub', 'track.json'), 'utf8'), /"kind": "carbot track state"/);
  });

  it('a corrupt, foreign or mismatched file: a warning naming the file and what is wrong, nothing loaded', () => {
    const cases: [unknown, RegExp][] = [
      ['{"kind": "carb', /not valid JSON/],
      [[1, 2], /not a JSON object/],
      [{ name: 'something else' }, /not carbot's track state/],
      [{ ...good, version: 2 }, /version 2, this carbot reads version 1/],
      [{ ...good, device: 'car2' }, /written for device "car2", this is "carbot"/],
      [{ ...good, lengthM: 2 }, /learnt on a track of 2 m, this one is 2\.4 m: calibrate again/],
      [{ ...good, curve: { forward: [{ duty: 2, speed: 1 }], backward: [] } }, /"curve" is not a speed curve/],
      [{ ...good, lastHomedAt: 'yesterday' }, /"lastHomedAt" is not a number/],
    ];
    for (const [body, why] of cases) {
      write(body);
      const { state, warning } = loadTrackState(dir, 'carbot', 2.4);
      assert.equal(state, undefined, JSON.stringify(body));
      assert.ok(warning?.startsWith(`${path.join(dir, 'track.json')}: `), warning);
      assert.match(warning ?? '', why);
      assert.match(warning ?? '', /ignored, the car starts with nothing learnt/);
    }
    write(good);
    assert.deepEqual(loadTrackState(dir, 'carbot', 2.4).state, { curve, lastHomedAt: 1 });
  });
});
