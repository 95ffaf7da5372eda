#!/usr/bin/env bash
# Reverses scripts/install.sh: stops and disables carbot, removes the unit, the carbot command
# and /opt/carbot. The settings (/etc/default/carbot, /etc/carbot/, drop-ins in
# carbot.service.d/) stay unless --purge is given, so a later install picks them up again.
# mosquitto's configuration is never touched: other clients may use the listeners it added.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: sudo scripts/uninstall.sh [options]

  --root DIR       uninstall from below DIR instead of / (DESTDIR=DIR works too); implies --no-systemctl
  --no-systemctl   do not stop, disable or reload anything
  --purge          also remove /etc/default/carbot, /etc/carbot/ and the unit's drop-ins
  -h, --help       show this help
EOF
}

die() {
  echo "uninstall.sh: $*" >&2
  exit 1
}

root="${DESTDIR:-}"
run_systemctl=1
purge=0

while (($# > 0)); do
  case "$1" in
    --root) [[ $# -ge 2 ]] || die "--root needs a directory"; root="$2"; shift 2 ;;
    --root=*) root="${1#--root=}"; shift ;;
    --no-systemctl) run_systemctl=0; shift ;;
    --purge) purge=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

root="${root%/}"
if [[ -n "$root" ]]; then run_systemctl=0; fi
if [[ -z "$root" && $EUID -ne 0 ]]; then
  die "run as root: sudo $0 $*"
fi

unit="$root/etc/systemd/system/carbot.service"

if ((run_systemctl)); then
  command -v systemctl >/dev/null || die "systemctl not found (--no-systemctl skips this step)"
  if [[ -e "$unit" ]]; then
    # Stopping lets carbot zero the motors and publish Offline before it goes.
    systemctl disable --now carbot.service
  fi
fi

rm -f "$unit" "$root/usr/local/bin/carbot"

# ---- The stop at boot (carbot-safe-state.service and its udev rule) --------------------------
boot_unit="$root/etc/systemd/system/carbot-safe-state.service"
if [[ -e "$boot_unit" ]]; then
  if ((run_systemctl)); then
    systemctl disable carbot-safe-state.service
  elif [[ -n "$root" ]] && command -v systemctl >/dev/null; then
    systemctl --quiet --root="$root" disable carbot-safe-state.service || true
  fi
fi
# Links systemctl did not know of (systemctl add-wants for another bus, or no systemctl at all).
for link in "$root"/etc/systemd/system/*.wants/carbot-safe-state.service; do
  [[ -L "$link" ]] || continue
  rm -f "$link"
  rmdir --ignore-fail-on-non-empty "$(dirname "$link")"
done
rm -f "$boot_unit" "$root/etc/udev/rules.d/60-carbot-i2c.rules"
echo "uninstall.sh: removed $boot_unit and $root/etc/udev/rules.d/60-carbot-i2c.rules"
# ---- end of the stop at boot -----------------------------------------------------------------
rm -rf "$root/opt/carbot"
echo "uninstall.sh: removed $unit, $root/usr/local/bin/carbot and $root/opt/carbot"
# 00-carbot.conf, or carbot.conf from an older install.sh.
for dropin in "$root/etc/mosquitto/conf.d/00-carbot.conf" "$root/etc/mosquitto/conf.d/carbot.conf"; do
  if [[ -e "$dropin" ]] && head -n 1 "$dropin" | grep -q "^# carbot's additions to mosquitto"; then
    echo "uninstall.sh: left $dropin (what install.sh added to mosquitto);" \
      "if nothing else uses its listeners: sudo rm it, then sudo systemctl restart mosquitto"
  fi
done

if ((purge)); then
  rm -rf "$root/etc/default/carbot" "$root/etc/carbot" "$root/etc/systemd/system/carbot.service.d"
  echo "uninstall.sh: removed $root/etc/default/carbot, $root/etc/carbot and any drop-ins"
else
  echo "uninstall.sh: kept $root/etc/default/carbot and $root/etc/carbot (--purge removes them)"
fi

if ((run_systemctl)); then
  systemctl daemon-reload
  systemctl reset-failed carbot.service 2>/dev/null || true
fi
