import { strict as assert } from 'node:assert';
import { generate, parser, type Packet } from 'mqtt-packet';
import { FloodShedder, SHED_MAX_BYTES, shedExamined } from '../../src/mqtt/shed';

/**
 * The shedder against real MQTT bytes (mqtt-packet writes them, as a broker would) and
 * mqtt-packet's own parser reading what it lets through, as mqtt.js would: whatever the chunk
 * boundaries, exactly the packets it should keep come out, whole and in order.
 */
const TOPIC = 'carbot/move';

function publish(payload: string | Buffer, opts: { topic?: string; qos?: 0 | 1; retain?: boolean; v5?: boolean; messageId?: number } = {}): Buffer {
  return generate(
    {
      cmd: 'publish',
      topic: opts.topic ?? TOPIC,
      payload,
      qos: opts.qos ?? 0,
      dup: false,
      retain: opts.retain ?? false,
      messageId: opts.qos ? (opts.messageId ?? 7) : undefined,
      ...(opts.v5 ? { properties: { userProperties: { from: 'phone' }, contentType: 'text/plain' } } : {}),
    },
    { protocolVersion: opts.v5 ? 5 : 4 },
  );
}

function parse(bytes: Buffer[], protocolVersion: 4 | 5): Packet[] {
  const p = parser({ protocolVersion });
  const out: Packet[] = [];
  p.on('packet', (packet: Packet) => out.push(packet));
  p.on('error', (err: Error) => {
    throw err;
  });
  for (const b of bytes) if (b.length > 0) p.parse(b);
  return out;
}

/** Refuses `faster` and `slower` on the move topic, as carbot's budget does in a flood; records what it was asked. */
function shedder(protocolVersion: 4 | 5 = 4): { shed: FloodShedder; asked: string[] } {
  const asked: string[] = [];
  const shed = new FloodShedder({
    topic: Buffer.from(TOPIC),
    protocolVersion,
    admit: (payload) => {
      asked.push(payload.toString());
      return !['faster', 'slower'].includes(payload.toString());
    },
  });
  return { shed, asked };
}

const describePacket = (p: Packet): string =>
  p.cmd === 'publish' ? `${p.topic}:${p.payload.toString()}${p.qos ? ` qos${p.qos}` : ''}${p.retain ? ' retained' : ''}` : p.cmd;

describe('FloodShedder', () => {
  for (const v of [4, 5] as const) {
    it(`MQTT ${v === 5 ? '5' : '3.1.1'}: drops only what admit refuses, and the parser reads the rest whole and in order at every chunk boundary`, () => {
      const v5 = v === 5;
      const big = 'x'.repeat(SHED_MAX_BYTES + 10);
      const stream = Buffer.concat([
        generate({ cmd: 'suback', messageId: 1, granted: [1] }, { protocolVersion: v }),
        publish('faster', { v5 }),
        publish('stop', { v5 }),
        publish('slower', { v5 }),
        publish('faster', { topic: 'cmnd/carbot/OWNER', v5 }),
        publish('faster', { qos: 1, v5 }),
        publish('faster', { retain: true, v5 }),
        publish(big, { v5 }),
        publish('{"move":"stop"}', { v5 }),
        generate({ cmd: 'pingresp' }, { protocolVersion: v }),
        publish('faster', { v5 }),
      ]);
      const expected = [
        'suback',
        `${TOPIC}:stop`,
        'cmnd/carbot/OWNER:faster',
        `${TOPIC}:faster qos1`,
        `${TOPIC}:faster retained`,
        `${TOPIC}:${big}`,
        `${TOPIC}:{"move":"stop"}`,
        'pingresp',
      ];
      // Whole, then split at every boundary into two chunks, then byte by byte.
      const splits: Buffer[][] = [[stream]];
      for (let at = 1; at < stream.length; at += 7) splits.push([stream.subarray(0, at), stream.subarray(at)]);
      splits.push([...stream].map((b) => Buffer.of(b)));
      for (const chunks of splits) {
        const { shed, asked } = shedder(v);
        const out = chunks.map((c) => shed.filter(c));
        assert.deepEqual(parse(out, v).map(describePacket), expected, `chunks of ${chunks.map((c) => c.length).join('+')} bytes`);
        // Asked once per small QoS 0 publish on the move topic, in order; never about the others.
        assert.deepEqual(asked, ['faster', 'stop', 'slower', '{"move":"stop"}', 'faster']);
        assert.equal(shed.dropped, 3);
      }
    });
  }

  it('hands the chunk on untouched when it drops nothing', () => {
    const { shed } = shedder();
    const chunk = Buffer.concat([publish('stop'), publish('forward')]);
    assert.equal(shed.filter(chunk), chunk);
  });

  it('passes bytes that are not MQTT on for the parser to refuse', () => {
    const { shed } = shedder();
    // A PUBLISH too short to hold a topic, at a chunk's end: handed on, not a crash.
    assert.deepEqual(shed.filter(Buffer.from([0x30, 0x00])), Buffer.from([0x30, 0x00]));
    assert.deepEqual(shed.filter(Buffer.from([0x30, 0x01, 0x00])), Buffer.from([0x30, 0x01, 0x00]));
    const junk = Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01, 0x02]);
    assert.deepEqual(shed.filter(junk), junk);
    assert.deepEqual(shed.filter(publish('faster')), publish('faster'));
  });

  it("tells which of mqtt.js's packets it looked at by the same rule", () => {
    const looked = (bytes: Buffer): boolean => shedExamined(parse([bytes], 4)[0] as Parameters<typeof shedExamined>[0], TOPIC);
    assert.equal(looked(publish('faster')), true);
    assert.equal(looked(publish('faster', { qos: 1 })), false);
    assert.equal(looked(publish('faster', { retain: true })), false);
    assert.equal(looked(publish('faster', { topic: 'carbot/move/stop' })), false);
    // The size limit, at the edge: the whole packet's bytes, headers included.
    // A type byte, two bytes of remaining length, the topic's length and the topic, the payload.
    const edge = SHED_MAX_BYTES - 3 - 2 - TOPIC.length;
    const fits = publish('a'.repeat(edge));
    const over = publish('a'.repeat(edge + 1));
    assert.equal(fits.length, SHED_MAX_BYTES);
    assert.equal(looked(fits), true);
    assert.equal(looked(over), false);
    const { shed, asked } = shedder();
    shed.filter(Buffer.concat([fits, over]));
    assert.equal(asked.length, 1);
  });
});
