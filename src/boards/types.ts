/**
 * What a board gives the motor drivers: PWM channels, servo pulse trains, digital pins.
 *
 * The drivers (motors/hbridge.ts, motors/servo.ts, sensors/limits.ts) are written once
 * against these outputs; a board (pigpio, kernel, pca9685, or the simulator) makes them, the way gpiozero's
 * Motor and Servo sit on swappable pin factories. Types shared by drivers and boards live
 * here, so imports point one way: drivers -> boards/types <- boards.
 *
 * Opening is asynchronous (the kernel's sysfs hands an exported channel to the gpio group a
 * moment later); every write after that is synchronous, so a `stop` never waits on a promise.
 */

export type Level = 0 | 1;

/** `gpio`: BCM numbers on the Pi's header; `pca9685`: channels 0–15 of the I2C PWM board. */
export type BoardName = 'gpio' | 'pca9685';

/** What drives the header pins (`gpio` = auto resolves to one of these). */
export type HeaderBackend = 'pigpio' | 'kernel';

export type Pull = 'up' | 'down';

/** A PWM output at a fixed frequency. Opened at duty 0 (low). */
export interface PwmOutput {
  /** Fraction of each period the output is high: 0 = always low, 1 = always high. */
  setDuty(fraction: number): void;
  /** Leaves the output low (disabled where the hardware can) and gives it back. */
  close(): void;
}

/** A servo pulse train at 50 Hz. Opened with no pulses (output low). */
export interface PulseOutput {
  /** High time of every 20 ms period in µs; 0 = no pulses at all (output low). */
  setPulse(us: number): void;
  /**
   * Only on a board that reproduces Adafruit's ServoKit (a PCA9685 with
   * pca9685.servoKitCompatible): ContinuousServo's `throttle = t` (−1..1) with its pulse range
   * minUs..maxUs, to the register ServoKit wrote.
   */
  setThrottle?(throttle: number, minUs: number, maxUs: number): void;
  /** Stops the pulses and gives the output back. */
  close(): void;
}

/** A pin or channel used as a plain high/low output. */
export interface DigitalOutput {
  write(level: Level): void;
  /** Gives the pin back (its level stays as last written where the hardware keeps it). */
  close(): void;
}

/** A pin read as an input with edge interrupts (limit switches, encoders). */
export interface DigitalInput {
  read(): Level;
  /** Called on every edge, before any debounce; `err` when the interrupt itself failed. */
  watch(callback: (err: Error | undefined) => void): void;
  close(): void;
}

export interface Board {
  /** Which board this is: `pigpio`, `kernel`, `pca9685`, or `sim` (the simulator, boards/sim.ts). */
  readonly kind: 'pigpio' | 'kernel' | 'pca9685' | 'sim';
  /** For the start-up log, e.g. "PCA9685 at 0x40 on /dev/i2c-1, 50 Hz". */
  readonly description: string;
  /** A PWM output on `pin` at `frequencyHz`, at duty 0. */
  openPwm(pin: number, frequencyHz: number): Promise<PwmOutput>;
  /** A servo pulse output on `pin`, pulses off. */
  openPulses(pin: number): Promise<PulseOutput>;
  /** A digital output on `pin`, driven to `initial` as it opens (no glitch). */
  openOutput(pin: number, initial: Level): Promise<DigitalOutput>;
  /** A digital input with edge interrupts and the given pull resistor where the board can set one. */
  openInput(pin: number, pull: Pull): Promise<DigitalInput>;
  /**
   * Gives back the library, bus or chip, after every output was closed; returns what failed
   * instead of throwing, so a shutdown always gets through every step.
   */
  close(): Error[];
}

/** A board could not be opened or used; the message says why and how to fix it. */
export class BoardError extends Error {
  override readonly name: string = 'BoardError';
  constructor(
    readonly problem: string,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Node's require, or a test's stand-in handing out fakes of the hardware libraries. */
export type RequireModule = (id: string) => unknown;
