/**
 * Settings' old flat names (from before they joined their groups): found in a file, as a flag
 * or a CARBOT_* variable, each still works with a warning naming the new one. Part of config.ts.
 */
import { envName, flagName, ROWS, type Setting } from './settings';

/** Old flat names, for a file: `embeddedBrokerPort` -> the embeddedBroker.port row. */
export const BY_OLD_KEY = new Map(ROWS.filter((s) => s.was !== undefined).map((s) => [s.was as string, s]));
/** The flag spelled after the old name, when it differs from the new one (`--embedded-broker`). */
export const oldFlag = (s: Setting) => (s.was !== undefined && flagName(s.was) !== flagName(s.key) ? flagName(s.was) : undefined);
export const oldEnv = (s: Setting) => (s.was !== undefined && envName(s.was) !== envName(s.key) ? envName(s.was) : undefined);

/** The warning an old spelling gives, once per spelling used. */
export const renamed = (old: string, now: string, key: string) =>
  `${old} is an old name: use ${now}${now === key ? '' : ` (${key})`} instead; the old name still works for now`;
