import type { Config } from '../config/config';
import {
  checkBoard,
  checkConfigTxt,
  checkDevices,
  checkHolders,
  checkPca9685,
  checkSystem,
  checkUser,
  gatherFacts,
  type CheckLine,
  type DoctorOptions,
} from './checks';
import { checkBroker } from './broker';

/**
 * `carbot doctor`: every check, in order, one line each with ✓ (fine), ✗ (must be fixed, with
 * the fix after the arrow) or – (does not apply here). Exit 0 when nothing must be fixed, 1
 * otherwise. Loaded by src/cli.ts only for `doctor` and `jog` (its own bundle).
 */

export { jog, JogRefused, type JogOptions } from './jog';
export { hostRoots } from './host';
export type { CheckLine, DoctorOptions } from './checks';

const MARKS = { pass: '✓', fail: '✗', info: '–' } as const;

export function renderLine(line: CheckLine): string {
  return `${MARKS[line.mark]} ${line.text}${line.fix ? ` → ${line.fix}` : ''}`;
}

export async function doctor(config: Config, options: DoctorOptions, print: (line: string) => void): Promise<number> {
  print(`carbot doctor: configuration ${config.configFile ? `from ${config.configFile}` : 'from defaults and CARBOT_* (no file)'}`);
  const facts = gatherFacts(config, options);
  const lines: CheckLine[] = [];
  const show = (found: CheckLine[]) => {
    for (const line of found) {
      lines.push(line);
      print(renderLine(line));
    }
  };
  show(checkSystem(facts));
  show(checkBoard(facts));
  show(checkDevices(facts));
  show(checkConfigTxt(facts));
  show(checkUser(facts));
  show(checkHolders(facts));
  show(checkPca9685(facts));
  show(await checkBroker(facts));
  const failures = lines.filter((l) => l.mark === 'fail').length;
  print(failures === 0 ? 'carbot doctor: nothing to fix' : `carbot doctor: ${failures} thing${failures === 1 ? '' : 's'} to fix (✗ above)`);
  return failures === 0 ? 0 : 1;
}
