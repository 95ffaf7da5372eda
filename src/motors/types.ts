/**
 * The motor side of the car, as the rest of carbot sees it.
 *
 * A motor takes a signed output in −1..1 (positive = the car's forward). Whether the
 * wheel is mounted mirrored (`invert`) is the driver's business, never the caller's.
 */

import type { BoardName } from '../boards/types';

export type { BoardName };
/** What the car's motors run on, as the start-up log and STATE name it. */
export type Backend = 'pigpio' | 'kernel' | 'pca9685' | 'sim';

export interface HBridgeMotorConfig {
  name: string;
  driver: 'hbridge';
  /** Where the pins are: the Pi's header (BCM numbers) or a PCA9685's channels. */
  board: BoardName;
  /** Pin (or channel) carrying PWM to the bridge's enable input (ENA/PWMA). */
  pwm: number;
  in1: number;
  in2: number;
  /** TB6612 STBY pin, driven high while carbot runs; optional. */
  standby?: number;
  /** Stop by shorting the motor (both inputs high) instead of letting it coast. */
  brake: boolean;
  pwmFrequency: number;
  invert: boolean;
}

export interface ServoMotorConfig {
  name: string;
  driver: 'servo';
  board: BoardName;
  pin: number;
  neutralUs: number;
  spanUs: number;
  trimUs: number;
  invert: boolean;
  /**
   * Stopped, the servo gets its neutral pulse (many continuous servos keep turning when the
   * pulses just stop). After this many seconds stopped the pulses go off; 0 = at once;
   * undefined = never.
   */
  idleOffS?: number;
}

export interface SimMotorConfig {
  name: string;
  driver: 'sim';
  board?: BoardName;
  invert: boolean;
}

export type MotorConfig = HBridgeMotorConfig | ServoMotorConfig | SimMotorConfig;

import type { TrackEnd } from '../core/drive';
/** An end of the track, `forward` the end the car reaches driving forward (named in the core). */
export type { TrackEnd };

export interface LimitSwitchConfig {
  pin: number;
  /** Switch wired to ground with a pull-up: the pin reads 0 when closed. */
  activeLow: boolean;
  debounceMs: number;
}

export type LimitsConfig = Partial<Record<TrackEnd, LimitSwitchConfig>>;

export interface Motor {
  readonly name: string;
  /** Drive the motor; `output` is clamped to −1..1 by the caller. */
  set(output: number): void;
}

/** Every motor of the car plus the pins around them, owned as one resource. */
export interface MotorBank {
  readonly backend: Backend;
  readonly names: readonly string[];
  /** Write one output per motor name. Throws if a write to the hardware fails. */
  write(outputs: Readonly<Record<string, number>>): void;
  /** Zero every output, swallowing and returning errors so every motor is tried. */
  stopAll(): Error[];
  /** Stop, release pins and the GPIO library. Idempotent. */
  close(): Promise<void>;
}

export interface LimitSwitches {
  /** Current state of each configured switch (true = closed). */
  readonly closed: Readonly<Partial<Record<TrackEnd, boolean>>>;
  /** Called after debounce whenever a switch changes. */
  onChange(listener: (end: TrackEnd, closed: boolean) => void): void;
  close(): Promise<void>;
}
