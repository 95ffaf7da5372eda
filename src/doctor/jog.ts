import path from 'node:path';
import { PIGPIO_LOCK_FILE } from '../boards/pigpio';
import type { Config } from '../config/config';
import type { Logger } from '../process/log';
import { openHardware, type HardwareDeps } from '../motors';
import type { MotorConfig } from '../motors/types';
import { modelPath, runningCarbots, type HostRoots } from './host';

/**
 * `carbot jog <motor>`: one motor forward, slowly, for a moment, then stopped and released, so
 * the maker sees which way the wheel turns and sets `invert`. Only that motor is opened (the
 * others and the limit switches are left alone), through the same boards as the service.
 */

export const JOG_SPEED_PERCENT = 20;
export const JOG_MS = 1000;

/** sysexits(3): the command line was wrong (an unknown motor). */
export const EX_USAGE = 64;
/** sysexits(3) EX_TEMPFAIL: not now (the service holds the outputs); run it again after stopping carbot. */
export const EX_TEMPFAIL = 75;

export class JogRefused extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'JogRefused';
  }
}

export interface JogOptions {
  roots: HostRoots;
  /** The boards' library boundary; tests hand out the fakes. */
  deps?: HardwareDeps;
  ownPid?: number;
  durationMs?: number;
  /** Called while the motor runs forward (tests look at the pins then). */
  whileRunning?: () => void | Promise<void>;
  /** Where the lines for the user go (stdout in the CLI). */
  print: (line: string) => void;
  /** Resolves when the user interrupts (Ctrl-C): the motor stops at once. */
  interrupted?: Promise<void>;
}

/**
 * What forward at `fraction` puts on the motor's outputs, in the user's terms. On the original
 * car's HAT (pca9685.servoKitCompatible) a servo gets ServoKit's throttle, not 1500 + 750·t µs.
 */
export function describeForward(motor: MotorConfig, fraction: number, servoKit = false): string {
  const percent = Math.round(fraction * 100);
  if (motor.driver === 'sim') return `simulated motor (no pins) at ${percent} %`;
  const on = motor.board === 'pca9685' ? 'PCA9685 channel' : 'GPIO';
  if (motor.driver === 'servo' && servoKit && motor.board === 'pca9685') {
    const throttle = (motor.invert ? -1 : 1) * fraction;
    return `ServoKit throttle ${throttle.toFixed(2)} on ${on} ${motor.pin}${motor.invert ? ' (inverted)' : ''}`;
  }
  if (motor.driver === 'servo') {
    const us = motor.neutralUs + motor.trimUs + (motor.invert ? -1 : 1) * fraction * motor.spanUs;
    return `servo pulses of ${Math.round(us)} µs on ${on} ${motor.pin}${motor.invert ? ' (inverted)' : ''}`;
  }
  const [high, low] = motor.invert ? [motor.in2, motor.in1] : [motor.in1, motor.in2];
  const names = motor.invert ? ['in2', 'in1'] : ['in1', 'in2'];
  return (
    `PWM ${percent} % on ${on} ${motor.pwm}, ${names[0]} ${on} ${high} high, ${names[1]} ${on} ${low} low` +
    `${motor.standby !== undefined ? `, standby ${on} ${motor.standby} high` : ''}${motor.invert ? ' (inverted)' : ''}`
  );
}

/**
 * Refuses while a carbot service runs on this machine: it holds the same outputs (the kernel
 * board's channels, pigpio, the PCA9685) and would fight the jog. Told from /proc: a node
 * process running carbot's dist/cli.js without a verb (both units, the `carbot` command,
 * `npm start`).
 */
export async function jog(config: Config, name: string | undefined, log: Logger, options: JogOptions): Promise<void> {
  const names = config.motors.map((m) => m.name);
  const motor = config.motors.find((m) => m.name === name);
  if (!motor) {
    const given = name === undefined ? 'jog needs a motor name' : `no motor named "${name}"`;
    throw new JogRefused(EX_USAGE, `${given}; the motors are: ${names.join(', ')} (e.g. carbot jog ${names[0]})`);
  }
  const running = runningCarbots(options.roots, options.ownPid);
  if (running.length > 0) {
    const [first] = running;
    throw new JogRefused(
      EX_TEMPFAIL,
      `carbot is running (pid ${first.pid}: ${first.argv.join(' ')}) and holds the motors' outputs; ` +
        `stop it first (sudo systemctl stop carbot), jog, then start it again (sudo systemctl start carbot)`,
    );
  }
  // Only this motor: no limit switches, no other motor's pins.
  const deps: HardwareDeps = {
    modelPath: modelPath(options.roots),
    sysfsRoot: options.roots.sys,
    lockFile: path.join(options.roots.root, PIGPIO_LOCK_FILE),
    ...options.deps,
  };
  const hardware = await openHardware({ ...config, motors: [motor], limits: {} }, log, { deps });
  const fraction = JOG_SPEED_PERCENT / 100;
  const ms = options.durationMs ?? JOG_MS;
  try {
    const outputs = describeForward(motor, fraction, config.pca9685.servoKitCompatible);
    const what = hardware.motors.backend === 'sim' ? `simulated, no pins driven (on the car: ${outputs})` : `${outputs} (${hardware.motors.backend})`;
    hardware.motors.write({ [motor.name]: fraction });
    options.print(`jog: ${motor.name} forward at ${JOG_SPEED_PERCENT} % for ${ms / 1000} s: ${what}`);
    let timer: NodeJS.Timeout | undefined;
    const ran = Promise.all([new Promise<void>((resolve) => (timer = setTimeout(resolve, ms))), options.whileRunning?.()]);
    await Promise.race(options.interrupted ? [ran, options.interrupted] : [ran]);
    clearTimeout(timer);
    hardware.motors.write({ [motor.name]: 0 });
    options.print(`jog: ${motor.name} stopped`);
  } finally {
    hardware.motors.stopAll();
    await hardware.motors.close();
  }
  options.print(
    `If the car moved backward, set "invert": ${!motor.invert} on motor "${motor.name}" (or swap its two motor wires), then run carbot jog ${motor.name} again.`,
  );
}
