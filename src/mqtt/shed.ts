/**
 * Sheds a flood of the move topic below mqtt.js's parser (issue 20).
 *
 * A publisher flooding `carbot/move` at QoS 0 gets its messages delivered in order into
 * carbot's socket. Handed to mqtt.js, each becomes a packet object, a topic string, a payload
 * buffer and a 'message' event before carbot's budget refuses it: tens of microseconds a
 * message, a hundred milliseconds for the first 64 KB chunk while that code is still cold, and
 * the garbage that comes with it. A stop that arrives meanwhile, on any connection or from the
 * page, waits for that.
 *
 * This follows the packets in the bytes as they arrive (MQTT 3.1.1 §2.2 and §3.3; MQTT 5.0
 * §2.1, §3.3: a fixed header of one type-and-flags byte and a remaining length of 1 to 4
 * bytes, 7 bits each, low first; a PUBLISH's variable header is a 2-byte-length topic, a
 * packet identifier only at QoS 1 and 2, and in MQTT 5 a properties block with a
 * variable-length size) and asks, for every small QoS 0 PUBLISH on the move topic that is not
 * retained, whether carbot takes it; what is refused never reaches the parser. Everything else
 * (other topics, retained messages, QoS 1 and 2 — the broker's in-flight window bounds those,
 * and they must be acknowledged — pings, acknowledgements, anything larger than SHED_MAX_BYTES)
 * goes on untouched, byte for byte, in order.
 */

/**
 * The largest packet looked at: a command is at most 256 bytes (src/core/commands.ts) plus a topic
 * of up to 256 and the headers. A larger one is passed on as it streams in, never held.
 */
export const SHED_MAX_BYTES = 1024;

export interface ShedRules {
  /** The move topic, as it appears on the wire. */
  topic: Buffer;
  /** 4 for MQTT 3.1.1, 5 for MQTT 5: a version 5 PUBLISH has properties before its payload. */
  protocolVersion: number;
  /**
   * Asked, in order, for each message the shedder looks at; false drops it here. The caller
   * counts and answers it as refused; a message let through is handed to the caller by mqtt.js
   * later with `shedExamined` true, its admission already decided. The MQTT front end answers
   * from the shared admission (src/mqtt/front.ts, src/admission/admission.ts), which keeps the
   * parse its stop check made for the car.
   */
  admit(payload: Buffer): boolean;
}

/**
 * Whether the shedder looked at (and so admitted) a message mqtt.js hands over: the same rule
 * the shedder applies to the bytes, read from mqtt.js's packet.
 */
export function shedExamined(
  packet: { qos: number; retain: boolean; dup: boolean; length?: number; topic: string; properties?: { topicAlias?: number } },
  topic: string,
): boolean {
  return (
    packet.qos === 0 &&
    !packet.retain &&
    !packet.dup &&
    packet.properties?.topicAlias === undefined &&
    packet.length !== undefined &&
    packetBytes(packet.length) <= SHED_MAX_BYTES &&
    packet.topic === topic
  );
}

/** A packet's size on the wire from its remaining length: the type byte, the length's own bytes, the rest. */
function packetBytes(remaining: number): number {
  return 1 + (remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4) + remaining;
}

export class FloodShedder {
  /** The start of a small packet that the previous chunk ended in the middle of (a copy). */
  private carry: Buffer | undefined;
  /** Bytes of a large packet still to come, passed on unexamined. */
  private passing = 0;
  /** Packets dropped so far. */
  dropped = 0;

  constructor(private readonly rules: ShedRules) {}

  /** The bytes of `chunk` to hand on, in order: `chunk` itself when nothing was dropped or held. */
  filter(chunk: Buffer): Buffer {
    let buf = chunk;
    if (this.carry !== undefined) {
      buf = Buffer.concat([this.carry, chunk]);
      this.carry = undefined;
    }
    const n = buf.length;
    let i = 0;
    if (this.passing > 0) {
      i = Math.min(this.passing, n);
      this.passing -= i;
    }
    let kept: Buffer[] | undefined;
    let keepFrom = 0;
    let end = n;
    while (i < n) {
      // The fixed header: a type byte, then the remaining length.
      let remaining = 0;
      let multiplier = 1;
      let p = i + 1;
      let complete = false;
      for (let k = 0; k < 4 && p < n; k++) {
        const byte = buf[p++];
        remaining += (byte & 0x7f) * multiplier;
        multiplier *= 128;
        if ((byte & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (p - i - 1 < 4) {
          // The header itself is cut: wait for the rest.
          end = i;
          break;
        }
        // Not MQTT: passed on for mqtt.js to refuse (it closes the connection).
        this.passing = Infinity;
        break;
      }
      const total = p - i + remaining;
      if (total > SHED_MAX_BYTES) {
        // Large: passed on as it comes (src/mqtt/packet-size.ts bounds it).
        const here = Math.min(total, n - i);
        this.passing = total - here;
        i += here;
        continue;
      }
      if (n - i < total) {
        end = i;
        break;
      }
      if (this.examines(buf, i, i + total) && !this.rules.admit(this.payload(buf, p, i + total))) {
        if (kept === undefined) kept = [];
        if (i > keepFrom) kept.push(buf.subarray(keepFrom, i));
        keepFrom = i + total;
        this.dropped++;
      }
      i += total;
    }
    if (end < n) this.carry = Buffer.from(buf.subarray(end));
    if (kept === undefined) return end === n ? buf : buf.subarray(0, end);
    if (end > keepFrom) kept.push(buf.subarray(keepFrom, end));
    return kept.length === 1 ? kept[0] : Buffer.concat(kept);
  }

  /** A QoS 0 PUBLISH on the move topic, not retained; `end`: where the packet ends. */
  private examines(buf: Buffer, at: number, end: number): boolean {
    const first = buf[at];
    if (first !== 0x30) return false; // PUBLISH, DUP 0, QoS 0, RETAIN 0
    let p = at + 1;
    while (buf[p] & 0x80) p++;
    p++;
    const topic = this.rules.topic;
    // Too short to hold the topic: malformed, left to mqtt.js to refuse.
    if (end - p < 2 + topic.length) return false;
    if (buf.readUInt16BE(p) !== topic.length) return false;
    p += 2;
    for (let k = 0; k < topic.length; k++) if (buf[p + k] !== topic[k]) return false;
    return true;
  }

  /** The payload of the PUBLISH whose variable header begins at `header` and which ends at `end`. */
  private payload(buf: Buffer, header: number, end: number): Buffer {
    let p = header + 2 + buf.readUInt16BE(header);
    if (this.rules.protocolVersion === 5) {
      let length = 0;
      let multiplier = 1;
      let byte: number;
      do {
        byte = buf[p++];
        length += (byte & 0x7f) * multiplier;
        multiplier *= 128;
      } while (byte & 0x80 && p < end);
      p += length;
    }
    return buf.subarray(Math.min(p, end), end);
  }
}
