import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { Writable } from 'node:stream';
import winston from 'winston';
import { createLogger, flushLogger, Repeats, type LogFormat, type LogLevel } from '../../src/process/log';
import { execFileSync } from '../support/isolation';

async function capture(format: LogFormat, opts: { level?: LogLevel; env?: NodeJS.ProcessEnv; tty?: boolean } = {}) {
  const stream = Object.assign(new PassThrough(), { isTTY: opts.tty ?? false });
  const chunks: string[] = [];
  stream.on('data', (c) => chunks.push(String(c)));
  const log = createLogger({ level: opts.level ?? 'debug', format, stream, env: opts.env ?? {} });
  log.error('motor fault');
  log.warn('retained command ignored');
  log.info('forward at 60% (command)');
  log.debug('command from mqtt');
  await flushLogger(log);
  return chunks.join('').split('\n').filter(Boolean);
}

describe('log formats', () => {
  it('journald: a syslog priority prefix and no timestamp on every line', async () => {
    assert.deepEqual(await capture('journald'), [
      '<3>motor fault',
      '<4>retained command ignored',
      '<6>forward at 60% (command)',
      '<7>command from mqtt',
    ]);
  });

  it('journald: every line of a multi-line message carries the priority', async () => {
    const stream = new PassThrough();
    const chunks: string[] = [];
    stream.on('data', (c) => chunks.push(String(c)));
    const log = createLogger({ level: 'info', format: 'journald', stream, env: {} });
    log.error('uncaught error: Error: boom\n    at drive (/opt/carbot/dist/drive.js:1:1)');
    await flushLogger(log);
    assert.deepEqual(chunks.join('').split('\n').filter(Boolean), [
      '<3>uncaught error: Error: boom',
      '<3>    at drive (/opt/carbot/dist/drive.js:1:1)',
    ]);
  });

  it('auto picks journald when JOURNAL_STREAM is set, text otherwise', async () => {
    assert.equal((await capture('auto', { env: { JOURNAL_STREAM: '8:12345' } }))[0], '<3>motor fault');
    assert.match((await capture('auto'))[0], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} error motor fault$/);
  });

  it('text: local timestamp, level, message; colour only on a TTY', async () => {
    const plain = await capture('text');
    assert.match(plain[2], /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} info  forward at 60% \(command\)$/);
    assert.ok(plain.every((l) => !l.includes('\x1b[')));
    const tty = await capture('text', { tty: true });
    assert.ok(tty[0].includes('\x1b[31merror\x1b[0m'));
  });

  it('json: one object per line with level, message and timestamp', async () => {
    const lines = (await capture('json')).map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => [l.level, l.message]), [
      ['error', 'motor fault'],
      ['warn', 'retained command ignored'],
      ['info', 'forward at 60% (command)'],
      ['debug', 'command from mqtt'],
    ]);
    assert.ok(lines.every((l) => !Number.isNaN(Date.parse(l.timestamp))));
  });

  it('logLevel filters lower levels', async () => {
    assert.deepEqual(await capture('journald', { level: 'warn' }), ['<3>motor fault', '<4>retained command ignored']);
  });
});

describe('the log is winston', () => {
  it('is a winston logger to which a user can add winston\'s own transports, each getting the same lines', async () => {
    const stdout = new PassThrough();
    const own = new PassThrough({ objectMode: true });
    const out: string[] = [];
    const added: unknown[] = [];
    stdout.on('data', (c) => out.push(String(c)));
    own.on('data', (info: Record<string, unknown>) => added.push(info.message));
    const log = createLogger({ level: 'info', format: 'journald', stream: stdout, env: {} });
    assert.ok(log instanceof winston.Logger);
    // Node-RED, a file, syslog over UDP: whatever winston transport the user has.
    log.add(new winston.transports.Stream({ stream: own }));
    log.info('forward at 60% (command)');
    log.debug('not at info');
    await flushLogger(log);
    assert.deepEqual(out.join('').split('\n').filter(Boolean), ['<6>forward at 60% (command)']);
    assert.deepEqual(added, ['forward at 60% (command)']);
  });

  it('writes the lines of 10 ms in one write, and those still waiting at exit', () => {
    const script = [
      `const { createLogger } = require(${JSON.stringify(require.resolve('../../dist/process/log.js'))});`,
      "const writes = [];",
      "const stream = new (require('node:stream').Writable)({ write(c, _e, cb) { writes.push(String(c)); cb(); } });",
      "const log = createLogger({ level: 'info', format: 'journald', stream, env: {} });",
      "log.info('one'); log.warn('two');",
      "process.on('exit', () => require('node:fs').writeSync(1, JSON.stringify(writes)));",
      "setTimeout(() => { log.info('three'); process.exit(0); }, 50);",
    ].join('\n');
    const out = execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    // The first two went out together after BATCH_MS; the last was written by the exit hook
    // (installed at the first line, so it runs before this script's own exit listener).
    assert.deepEqual(JSON.parse(out), ['<6>one\n<4>two\n', '<6>three\n']);
  });
});

describe('repeated rejections', () => {
  it('logs the first from each source in full and sums up the rest at the end of the window', () => {
    const lines: string[] = [];
    const log = { warn: (m: string) => lines.push(`warn ${m}`), info: (m: string) => lines.push(`info ${m}`) };
    const repeats = new Repeats(log, { maxSources: 2 });
    const written = ['10.0.0.7', '10.0.0.7', 'mqtt', '10.0.0.7', 'mqtt', '10.0.0.8', '10.0.0.9'].map((s) => repeats.admit(s));
    assert.deepEqual(written, [true, false, true, false, false, false, false]);
    repeats.close();
    assert.deepEqual(lines, [
      'warn 2 more rejected from 10.0.0.7 in the last 10 s',
      'warn 1 more rejected from mqtt in the last 10 s',
      'warn 2 more rejected from other sources in the last 10 s',
    ]);
    // A new window logs the first one in full again.
    assert.equal(repeats.admit('10.0.0.7'), true);
    repeats.close();
  });
});

describe('a log stream that breaks', () => {
  it('drops lines instead of raising an error per line, and says so once on stderr', async () => {
    const stream = new Writable({
      write(_chunk, _encoding, callback) {
        callback(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
      },
    });
    const said: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((chunk: string) => {
      said.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      const log = createLogger({ level: 'info', format: 'journald', stream, env: {} });
      for (let i = 0; i < 100; i++) log.info(`line ${i}`);
      await flushLogger(log);
    } finally {
      process.stderr.write = write;
    }
    assert.deepEqual(said, ['carbot: log output failed (write EPIPE); log lines are dropped from now on\n']);
  });
});

