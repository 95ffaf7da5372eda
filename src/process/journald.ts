/**
 * journald's line format, apart from the logger so that the CLI can print an error in it
 * without loading the logger.
 */
import type { LogLevel } from './log';

/** sd-daemon(3) priorities: journald reads a leading `<N>` as the line's priority. */
const SYSLOG_PRIORITY: Record<LogLevel, number> = { error: 3, warn: 4, info: 6, debug: 7 };

/** Every line gets the prefix: journald reads each line of a stack trace as an entry of its own. */
export function journaldLines(level: LogLevel, text: string): string {
  return text
    .split('\n')
    .map((line) => `<${SYSLOG_PRIORITY[level]}>${line}`)
    .join('\n');
}
