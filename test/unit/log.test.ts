import { strict as assert } from 'node:assert';
import { PassThrough } from 'node:stream';
import { createLogger, flushLogger, type LogFormat, type LogLevel } from '../../src/log';

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
