/**
 * The kernel board's PWM blocks: which header pins reach which channel of each Raspberry Pi SoC's
 * PWM, and the config.txt lines that enable them. Part of ../kernel.ts.
 */
import type { Soc } from '../pi';

/** Where a board's PWM block lives and which header pins reach which of its channels. */
export interface PwmBlock {
  /** The platform device the pwmchip belongs to (its `device` link), stable across kernels. */
  readonly device: string;
  /** For messages: "the Raspberry Pi 5's RP1 (PWM0)". */
  readonly name: string;
  /** BCM pin -> channel. */
  readonly channels: Readonly<Record<number, number>>;
}

/** pwm-2chan's func for each pin: the legacy brcm,function numbers (4 = Alt0, 2 = Alt5). */
export const OVERLAY_FUNC: Readonly<Record<number, number>> = { 12: 4, 13: 4, 18: 2, 19: 2 };

/**
 * RP1 PWM0 at 0x40098000 on the RP1 (rp1.dtsi `rp1_pwm0: pwm@98000`, 4 channels per
 * pwm-rp1.c), seen by the CPU at 0x1f00098000; `pwm: &pwm0` in bcm2712-rpi.dtsi is what
 * pwm-2chan targets. pinctrl-rp1.c muxes pwm0 onto GPIO 12/13 (a0, legacy func 4) and 18/19
 * (a3, legacy func 2); `pinctrl` names them PWM0_CHAN0..3. RP1 PWM1 (1f0009c000.pwm) drives
 * the fan header and is not for motors.
 */
export const RP1_PWM0: PwmBlock = {
  device: '1f00098000.pwm',
  name: "the Raspberry Pi 5's RP1 (PWM0)",
  channels: { 12: 0, 13: 1, 18: 2, 19: 3 },
};

/**
 * The BCM283x/2711 PWM (bcm283x.dtsi `pwm: pwm@7e20c000`, 2 channels per pwm-bcm2835.c) at
 * its CPU address on each SoC. pwm-2chan-overlay.dts: "PWM0: 12,4(Alt0) 18,2(Alt5);
 * PWM1: 13,4(Alt0) 19,2(Alt5)", so 12 and 18 share channel 0, 13 and 19 channel 1.
 */
const bcm283x = (device: string, name: string): PwmBlock => ({ device, name, channels: { 12: 0, 18: 0, 13: 1, 19: 1 } });
export const BCM2711_PWM = bcm283x('fe20c000.pwm', "the Raspberry Pi 4's BCM2711");
export const BCM2837_PWM = bcm283x('3f20c000.pwm', "the BCM2836/2837 (Raspberry Pi 2, 3, Zero 2)");
export const BCM2835_PWM = bcm283x('2020c000.pwm', "the BCM2835 (Raspberry Pi 1, Zero)");

export const BLOCKS = [RP1_PWM0, BCM2711_PWM, BCM2837_PWM, BCM2835_PWM];

/** The PWM block of a Raspberry Pi's SoC (pi.ts reads it from the device tree); undefined for other boards. */
export function pwmBlockForSoc(soc: Soc | undefined): PwmBlock | undefined {
  switch (soc) {
    case 'bcm2712':
      return RP1_PWM0;
    case 'bcm2711':
      return BCM2711_PWM;
    case 'bcm2837':
    case 'bcm2836':
      return BCM2837_PWM;
    case 'bcm2835':
      return BCM2835_PWM;
    default:
      return undefined;
  }
}

/** The config.txt line that puts a block's PWM on `pin` and the pin usually paired with it. */
export function overlayLine(pin: number): string {
  const partner: Record<number, number> = { 12: 13, 13: 12, 18: 19, 19: 18 };
  const [first, second] = [pin, partner[pin]].sort((a, b) => a - b);
  return `dtoverlay=pwm-2chan,pin=${first},func=${OVERLAY_FUNC[first]},pin2=${second},func2=${OVERLAY_FUNC[second]}`;
}

const PWM_2CHAN_PINS = [12, 13, 18, 19];

/**
 * The `config.txt` lines the kernel board needs for these header PWM pins (docs/boards-kernel.md
 * §1): one `dtoverlay=pwm-2chan` for the hardware PWM pins (12, 13, 18, 19; two at most, on
 * different channels), `dtoverlay=pwm-gpio` for any other pin (the kernel's software PWM), and
 * on a Pi 1–4 `dtparam=audio=off`, as analogue audio uses both PWM channels.
 */
export function configTxtLines(pins: readonly number[], soc: Soc | undefined): string[] {
  const unique = [...new Set(pins)].sort((a, b) => a - b);
  const hardware = unique.filter((p) => PWM_2CHAN_PINS.includes(p));
  const lines: string[] = [];
  if (hardware.length === 1) lines.push(overlayLine(hardware[0]));
  for (let i = 0; i + 1 < hardware.length; i += 2) {
    const [a, b] = [hardware[i], hardware[i + 1]];
    lines.push(`dtoverlay=pwm-2chan,pin=${a},func=${OVERLAY_FUNC[a]},pin2=${b},func2=${OVERLAY_FUNC[b]}`);
  }
  if (hardware.length > 2 && hardware.length % 2 === 1) lines.push(overlayLine(hardware[hardware.length - 1]));
  for (const pin of unique.filter((p) => !PWM_2CHAN_PINS.includes(p))) lines.push(`dtoverlay=pwm-gpio,gpio=${pin}`);
  if (hardware.length > 0 && soc !== undefined && soc !== 'bcm2712') lines.push('dtparam=audio=off');
  return lines;
}
