/**
 * The largest MQTT packet carbot takes in, as a client and in its embedded broker; the same
 * figure as the `max_packet_size` install.sh adds to mosquitto (scripts/mosquitto/merge.js),
 * so nothing mosquitto lets through is refused by carbot. A command is at most 256 bytes and
 * Home Assistant's discovery payloads a few KiB: 1 MiB leaves room for a user's other clients
 * on the same broker while bounding what one publish can make a process buffer (before, one
 * 100 MB publish grew mosquitto by 200 MB and the embedded broker by 500 MB).
 *
 * With MQTT 5 carbot says this limit in its CONNECT (Maximum Packet Size, src/mqtt/link.ts),
 * and a broker that honours it drops a larger packet for carbot instead of sending it; MQTT
 * 3.1.1 (aedes 1.x) has no such field, a broker may ignore it, and mqtt.js checks it only once
 * a packet has been buffered in full: so the limit is also enforced by watching the packets'
 * headers as the bytes arrive.
 */
export const MAX_PACKET_BYTES = 1024 * 1024;

/**
 * Follows the MQTT packets in a byte stream without parsing them: a fixed header of one type
 * byte and a remaining length of 1 to 4 bytes (7 bits each, low first, MQTT 3.1.1 §2.2.3),
 * then that many bytes. Says, as soon as a header has arrived, that its packet is larger than
 * the limit, before the body is sent on, buffered or parsed. A few comparisons per packet.
 */
export class PacketSizeWatch {
  /** Bytes of the current packet's body still to come. */
  private skip = 0;
  /** -1: a type byte comes next; 0 to 3: that many bytes of the remaining length read. */
  private lengthBytes = -1;
  private length = 0;
  private multiplier = 1;

  constructor(private readonly max = MAX_PACKET_BYTES) {}

  /** The size of the first packet in `chunk` whose header announces more than the limit, or undefined. */
  feed(chunk: Uint8Array): number | undefined {
    const n = chunk.length;
    let i = 0;
    while (i < n) {
      if (this.skip > 0) {
        const take = Math.min(this.skip, n - i);
        this.skip -= take;
        i += take;
        continue;
      }
      if (this.lengthBytes < 0) {
        this.lengthBytes = 0;
        this.length = 0;
        this.multiplier = 1;
        i++;
        continue;
      }
      const byte = chunk[i++];
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if ((byte & 0x80) === 0 || this.lengthBytes === 4) {
        const total = 1 + this.lengthBytes + this.length;
        this.lengthBytes = -1;
        this.skip = this.length;
        if (total > this.max) return total;
      }
    }
    return undefined;
  }
}

/**
 * Watches what `stream` (a broker connection) receives and calls `tooLarge` once, with the
 * announced size, when a packet over the limit begins; the caller then closes the connection.
 */
export function watchPacketSize(stream: NodeJS.EventEmitter, tooLarge: (bytes: number) => void, max = MAX_PACKET_BYTES): void {
  const watch = new PacketSizeWatch(max);
  const onData = (chunk: Buffer): void => {
    const size = watch.feed(chunk);
    if (size === undefined) return;
    stream.off('data', onData);
    tooLarge(size);
  };
  stream.on('data', onData);
}
