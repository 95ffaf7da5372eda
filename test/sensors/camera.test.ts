import { strict as assert } from 'node:assert';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Camera, execRunner, latestPictures, pictureName, stopFolder, type CaptureRunner, type PhotoOutcome } from '../../src/sensors/camera';

describe('the camera (src/sensors/camera.ts), its runner faked', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'carbot-camera-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const context = { stop: 'basil', position: 0.3, uncertainty: 0.01, unit: 'm' as const, lastHomedAt: Date.UTC(2026, 11, 7, 8) };
  let now = Date.UTC(2026, 11, 7, 9);
  const writes: CaptureRunner = (command, _timeoutMs, done) => {
    writeFileSync(command[command.length - 1], 'jpeg');
    done();
  };
  const take = (camera: Camera, stop: string | null = 'basil') =>
    new Promise<PhotoOutcome>((resolve) => camera.capture({ ...context, stop }, resolve));

  it('folder names: a stop as it is where safe, else its other characters replaced and a hash added; none for a photo away from a stop', () => {
    assert.equal(stopFolder('basil'), 'basil');
    assert.match(stopFolder('sweet basil/../x'), /^sweet_basil____x_[0-9a-f]{8}$/);
    assert.match(stopFolder('..'), /^___[0-9a-f]{8}$/);
    // Stops whose names differ only in the characters replaced never share a folder.
    const folders = ['sweet basil', 'sweet_basil', 'sweet.basil', 'sweet/basil'].map(stopFolder);
    assert.equal(new Set(folders).size, 4, folders.join(' '));
    assert.equal(folders[1], 'sweet_basil');
    assert.equal(stopFolder(null), '_place');
    assert.equal(pictureName(Date.UTC(2026, 11, 7, 9, 5, 1, 20)), '2026-12-07T09-05-01.020Z.jpg');
  });

  it('{file} in any argument; the sidecar beside the picture; the oldest pruned past camera.keep', async () => {
    let ran: string[] = [];
    const camera = new Camera({ command: ['cam', '--out={file}', '{file}'], dir, timeoutS: 5, keep: 2 }, (command, timeoutMs, done) => {
      ran = command;
      assert.equal(timeoutMs, 5000);
      writes(command, timeoutMs, done);
    }, () => (now += 1000));
    const outcomes = [await take(camera), await take(camera), await take(camera)];
    const last = outcomes[2] as { file: string; sidecar: string };
    assert.equal(ran[1], `--out=${last.file}`);
    assert.equal(path.dirname(last.file), path.join(dir, 'basil'));
    const sidecar = JSON.parse(readFileSync(last.sidecar, 'utf8')) as Record<string, unknown>;
    assert.deepEqual(sidecar, { stop: 'basil', file: last.file, position: 0.3, uncertainty: 0.01, unit: 'm', time: '2026-12-07T09:00:03.000Z', lastHomed: '2026-12-07T08:00:00.000Z', bytes: 4 });
    assert.deepEqual(readdirSync(path.join(dir, 'basil')).sort(), ['2026-12-07T09-00-02.000Z.jpg', '2026-12-07T09-00-02.000Z.json', '2026-12-07T09-00-03.000Z.jpg', '2026-12-07T09-00-03.000Z.json']);
    assert.deepEqual(latestPictures(dir), { basil: '2026-12-07T09-00-03.000Z.jpg' });
  });

  it('a failure, or a command that wrote nothing, is an error and leaves no file; one capture at a time', async () => {
    const failing = new Camera({ command: ['cam', '{file}'], dir, timeoutS: 5, keep: 0 }, (command, _t, done) => {
      writeFileSync(command[1], 'half');
      done('cam exited with code 1');
    });
    assert.deepEqual(await take(failing), { error: 'cam exited with code 1' });
    assert.deepEqual(readdirSync(path.join(dir, 'basil')), []);
    const silent = new Camera({ command: ['cam', '{file}'], dir, timeoutS: 5, keep: 0 }, (_command, _t, done) => done());
    assert.match((await take(silent) as { error: string }).error, /^cam finished but wrote no picture to /);
    let finish: (() => void) | undefined;
    const slow = new Camera({ command: ['cam', '{file}'], dir, timeoutS: 5, keep: 0 }, (command, t, done) => {
      finish = () => writes(command, t, done);
    });
    const first = take(slow, null);
    assert.ok(slow.busy);
    assert.deepEqual(await take(slow), { error: 'a capture is already under way' });
    finish!();
    const taken = (await first) as { file: string };
    assert.ok(existsSync(taken.file) && taken.file.includes(`${path.sep}_place${path.sep}`));
  });

  it('never prunes the picture just taken, even when the clock went back (a Pi without a clock after a power cut)', async () => {
    let at = Date.UTC(2026, 11, 7, 9);
    const camera = new Camera({ command: ['cam', '{file}'], dir, timeoutS: 5, keep: 2 }, writes, () => at);
    await take(camera);
    at += 1000;
    await take(camera);
    // An hour behind the pictures already there.
    at -= 3_600_000;
    const latest = (await take(camera)) as { file: string };
    assert.ok(existsSync(latest.file), 'the new picture was pruned');
    assert.equal(readdirSync(path.join(dir, 'basil')).filter((n) => n.endsWith('.jpg')).length, 2);
  });
});

describe('the camera command, run for real (execRunner)', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'carbot-camera-run-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('at camera.timeoutS the whole process group is killed: a wrapper script\'s camera program does not live on', async () => {
    // A wrapper that starts the "camera" (a node that writes its pid and hangs) and waits for it.
    const pidFile = path.join(dir, 'camera.pid');
    const hang = `require('fs').writeFileSync(${JSON.stringify(pidFile)}, String(process.pid)); setInterval(() => {}, 1000);`;
    const wrapper = path.join(dir, 'wrapper.sh');
    writeFileSync(wrapper, `#!/bin/sh\n${JSON.stringify(process.execPath)} -e ${JSON.stringify(hang).replace(/\$/g, '\\$')}\n`, { mode: 0o755 });
    const error = await new Promise<string | undefined>((resolve) => execRunner(['/bin/sh', wrapper], 1000, resolve));
    assert.equal(error, '/bin/sh did not finish within 1 s (killed)');
    const pid = Number(readFileSync(pidFile, 'utf8'));
    // Gone, or a zombie waiting for whoever adopted it to reap it (a container's init may not).
    await new Promise((resolve) => setTimeout(resolve, 100));
    let state = 'gone';
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1][0];
    } catch {
      // No such process.
    }
    assert.ok(state === 'gone' || state === 'Z', `the camera program is still running (state ${state})`);
  });

  it('says why a command failed: its exit code and last line, or that there is no such program', async () => {
    const failed = await new Promise<string | undefined>((resolve) => execRunner(['/bin/sh', '-c', 'echo "no camera detected" >&2; exit 3'], 5000, resolve));
    assert.equal(failed, '/bin/sh exited with code 3: no camera detected');
    const missing = await new Promise<string | undefined>((resolve) => execRunner(['/nonexistent/rpicam-still'], 5000, resolve));
    assert.equal(missing, '/nonexistent/rpicam-still: no such program (camera.command)');
  });
});
