import { strict as assert } from 'node:assert';
import { generate } from 'mqtt-packet';
import { MAX_PACKET_BYTES, PacketSizeWatch } from '../../src/mqtt/packet-size';

/** Real MQTT 3.1.1 packets, as mqtt-packet writes them. */
const publish = (bytes: number): Buffer => generate({ cmd: 'publish', topic: 'carbot/move', payload: Buffer.alloc(bytes, 0x61), qos: 0, dup: false, retain: false });
const ping = generate({ cmd: 'pingresp' });

describe('PacketSizeWatch', () => {
  it('follows packets of every remaining-length size, whole or byte by byte, and lets those within the limit through', () => {
    const stream = Buffer.concat([ping, publish(5), publish(200), publish(20_000), ping, publish(MAX_PACKET_BYTES - 20)]);
    assert.equal(new PacketSizeWatch().feed(stream), undefined);
    const watch = new PacketSizeWatch();
    for (const byte of stream) assert.equal(watch.feed(Uint8Array.of(byte)), undefined);
    // Right after them, a packet over the limit is told from its header alone.
    const tooLarge = publish(MAX_PACKET_BYTES);
    assert.equal(watch.feed(tooLarge.subarray(0, 5)), tooLarge.length);
  });

  it('says so from the header of a 100 MB publish, before its body', () => {
    const header = Buffer.from([0x30, 0x80, 0x80, 0x80, 0x30]); // PUBLISH, remaining length 100 663 296
    const watch = new PacketSizeWatch(64 * 1024);
    assert.equal(watch.feed(Buffer.concat([publish(10), header.subarray(0, 2)])), undefined);
    assert.equal(watch.feed(header.subarray(2)), 1 + 4 + 100_663_296);
  });
});
