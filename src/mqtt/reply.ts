/**
 * MQTT 5 request/response (docs/mqtt.md#matching-answers-to-questions): a command published
 * with a Response Topic is answered there too, with its Correlation Data, besides the RESULT
 * everyone reads. The response topic is the sender's choice, so carbot checks it first: it is
 * published to under carbot's own name (and the broker's ACL for carbot), and must not become
 * a way to write on carbot's own topics.
 */
import type { Topics } from '../config/config';

/** What a command's publish asked for, from its MQTT 5 properties. */
export interface ReplyTo {
  responseTopic: string;
  correlationData?: Buffer;
}

/** The longest response topic and correlation data carbot answers to (a command is at most 256 bytes). */
export const MAX_RESPONSE_TOPIC_BYTES = 256;
export const MAX_CORRELATION_BYTES = 256;

/**
 * Why carbot will not answer on this response topic, or undefined if it will: no wildcards
 * (MQTT 5 forbids them there, and a broker would drop carbot for publishing to one), nothing
 * under `$` (the broker's own), none of carbot's own topics (its move and stop topics, where
 * an answer would read as a command, `tele/<device>/…` and `cmnd/<device>/…`, RESULT, ARRIVED
 * and OWNER, Home Assistant's discovery topics), and bounded sizes.
 */
export function replyProblem(reply: ReplyTo, topics: Topics, discoveryPrefix: string): string | undefined {
  const topic = reply.responseTopic;
  if (topic === '' || Buffer.byteLength(topic) > MAX_RESPONSE_TOPIC_BYTES) return `response topic must be 1-${MAX_RESPONSE_TOPIC_BYTES} bytes`;
  if (/[+#\u0000]/.test(topic)) return 'response topic has a wildcard';
  if (topic.startsWith('$')) return 'response topic starts with $';
  if ((reply.correlationData?.length ?? 0) > MAX_CORRELATION_BYTES) return `correlation data over ${MAX_CORRELATION_BYTES} bytes`;
  const own = [topics.move, topics.stop, topics.result, topics.arrived, topics.photo, topics.owner, topics.ownerPing, topics.state, topics.lwt];
  const ownPrefixes = [`${topics.move}/`, `${topics.photo}/`, dirname(topics.lwt), dirname(topics.ownerPing), `${discoveryPrefix}/`];
  if (own.includes(topic) || ownPrefixes.some((p) => topic.startsWith(p))) return `response topic ${topic} is one of carbot's own`;
  return undefined;
}

/** `tele/carbot/LWT` -> `tele/carbot/` */
function dirname(topic: string): string {
  return topic.slice(0, topic.lastIndexOf('/') + 1);
}
