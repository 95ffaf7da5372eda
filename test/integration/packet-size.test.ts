import { strict as assert } from 'node:assert';
import { createServer, type Socket } from 'node:net';
import { generate } from 'mqtt-packet';
import { bigPublishDoesNotReachCarbot } from '../support/big-publish';
import { freePort } from '../support/ports';
import { spawnCarbot } from '../support/process';
import { waitUntil } from '../support/wait';

describe('MQTT packets over 1 MiB', () => {
  it('the embedded broker cuts off a 100 MB publish before it reaches carbot, and a stop still works', async function () {
    this.timeout(60_000);
    const port = await freePort();
    const proc = spawnCarbot(['--embedded-broker-enabled', '--embedded-broker-port', String(port), '--embedded-broker-ws-port', '0', '--gpio', 'sim']);
    await proc.waitForLine(/subscribed to carbot\/move/);
    await bigPublishDoesNotReachCarbot(`mqtt://127.0.0.1:${port}`, proc);
    await proc.waitForLine(/embedded broker: closed the connection from 127\.0\.0\.1: a packet of \d+ bytes, over the limit of 1048576/);
    assert.equal((await proc.kill('SIGTERM')).code, 0);
  });

  it('carbot closes a connection whose broker sends it a packet over 1 MiB, and connects again', async function () {
    this.timeout(30_000);
    // A broker that takes carbot in, then sends a 2 MB publish on the move topic (only the
    // first 64 KiB of it: carbot must not wait for the rest to know).
    const sockets = new Set<Socket>();
    /** Connections made since the big publish went out. */
    let sinceBig: number | undefined;
    const broker = createServer((socket) => {
      sockets.add(socket);
      if (sinceBig !== undefined) sinceBig++;
      socket.on('error', () => undefined);
      socket.on('data', (data: Buffer) => {
        // A 3.1.1 broker: an MQTT 5 CONNECT (protocol level 5, after "MQTT") is refused, and carbot asks again in 3.1.1.
        if (data[0] === 0x10) {
          const level = data[data.indexOf('MQTT') + 4];
          socket.write(generate({ cmd: 'connack', returnCode: level === 5 ? 1 : 0, sessionPresent: false }));
        }
        const subscribe = data.indexOf(0x82);
        if (subscribe >= 0) {
          const messageId = data.readUInt16BE(subscribe + 2);
          socket.write(generate({ cmd: 'suback', messageId, granted: [1] }));
          // To the connection that takes commands (not the owner check's, nor the stop topic's).
          const move = data.includes(Buffer.from('carbot/move')) && !data.includes(Buffer.from('carbot/move/stop'));
          if (move && sinceBig === undefined) {
            sinceBig = 0;
            const big = generate({ cmd: 'publish', topic: 'carbot/move', payload: Buffer.alloc(2 * 1024 * 1024, 0x61), qos: 0, dup: false, retain: false });
            socket.write(big.subarray(0, 64 * 1024));
          }
        }
      });
    });
    await new Promise<void>((resolve) => broker.listen(0, '127.0.0.1', resolve));
    const port = (broker.address() as { port: number }).port;
    try {
      const proc = spawnCarbot(['--mqtt-url', `mqtt://127.0.0.1:${port}`, '--gpio', 'sim']);
      await proc.waitForLine(
        new RegExp(`error .*broker mqtt://127\\.0\\.0\\.1:${port} sent a packet of \\d+ bytes, over carbot's limit of 1048576: closing the connection`),
        15_000,
      );
      await proc.waitForLine(/reconnecting in 1 s/);
      await waitUntil(() => (sinceBig ?? 0) >= 1, () => 'carbot to connect again', 15_000);
      assert.equal((await proc.kill('SIGTERM')).code, 0);
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => broker.close(resolve));
    }
  });
});
