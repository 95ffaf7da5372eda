#!/usr/bin/env bash
# Installs carbot as a systemd service: builds this source tree, installs the compiled service
# with its production dependencies to /opt/carbot and a `carbot` command to /usr/local/bin, the
# unit to /etc/systemd/system (backing up and disabling the Python carbot's unit first, in /etc,
# /lib or /usr/lib), creates /etc/default/carbot and /etc/carbot/config.json (with a token for
# the remote page) when they do not exist yet (never overwrites them; stops if carbot
# --check-config refuses what it keeps), adds what carbot needs
# to mosquitto's configuration without breaking what is there, then enables and (re)starts
# carbot. Running it again upgrades in place.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: sudo scripts/install.sh [options]

  --root DIR       install below DIR instead of / (DESTDIR=DIR works too); implies --no-systemctl
  --no-systemctl   do not reload systemd, enable or start carbot
  --skip-build     use the dist/ and node_modules/ already in the source tree (no npm ci, no build)
  --node PATH      the node that runs carbot (default /usr/bin/node); written into the installed unit
  --admin-group G  the group that may read carbot's settings, so that its members can run
                   `carbot send` without sudo (default sudo; the settings may hold passwords)
  --no-mosquitto   leave mosquitto's configuration alone
  --mqtt-port N    the MQTT listener carbot needs from mosquitto (default 1883)
  --ws-port N      the websockets listener to make sure of (default 9000; 0 = none)
  --systemctl PATH the systemctl to run (default systemctl; tests give a stand-in, also with --root)
  --no-packages    do not install the Debian packages carbot needs (see below)
  --print-packages only print the apt-get commands for this release (always so with --root)
  -h, --help       show this help

The Debian packages come from the release in <root>/etc/os-release (VERSION_CODENAME): on
trixie Debian's own nodejs and npm (Node 20) and no pigpio (trixie has none: the kernel board
or a PCA9685 HAT drive the motors); on bookworm pigpio (Node 20 from NodeSource, see
docs/install.md). Only packages the release's archive has are installed.
EOF
}

die() {
  echo "install.sh: $*" >&2
  exit 1
}

src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="${DESTDIR:-}"
run_systemctl=1
build=1
node_bin=/usr/bin/node
admin_group=sudo
mosquitto=1
mqtt_port=1883
ws_port=9000
systemctl=""
packages=1
print_packages=0

while (($# > 0)); do
  case "$1" in
    --root) [[ $# -ge 2 ]] || die "--root needs a directory"; root="$2"; shift 2 ;;
    --root=*) root="${1#--root=}"; shift ;;
    --no-systemctl) run_systemctl=0; shift ;;
    --skip-build) build=0; shift ;;
    --node) [[ $# -ge 2 ]] || die "--node needs a path"; node_bin="$2"; shift 2 ;;
    --node=*) node_bin="${1#--node=}"; shift ;;
    --admin-group) [[ $# -ge 2 ]] || die "--admin-group needs a group"; admin_group="$2"; shift 2 ;;
    --no-mosquitto) mosquitto=0; shift ;;
    --mqtt-port) [[ $# -ge 2 ]] || die "--mqtt-port needs a port"; mqtt_port="$2"; shift 2 ;;
    --ws-port) [[ $# -ge 2 ]] || die "--ws-port needs a port"; ws_port="$2"; shift 2 ;;
    --systemctl) [[ $# -ge 2 ]] || die "--systemctl needs a path"; systemctl="$2"; shift 2 ;;
    --no-packages) packages=0; shift ;;
    --print-packages) print_packages=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

root="${root%/}"
[[ "$node_bin" == /* ]] || die "--node needs an absolute path (it goes into the unit's ExecStart)"
if [[ -n "$systemctl" ]]; then
  # An explicit systemctl runs even for a tree being filled (tests act on a stand-in of their own).
  run_systemctl=1
elif [[ -n "$root" && $run_systemctl -eq 1 ]]; then
  # systemctl would act on this machine, not on the tree being filled.
  echo "install.sh: installing into $root, so not running systemctl"
  run_systemctl=0
fi
systemctl="${systemctl:-systemctl}"
problems=()
if [[ -z "$root" && $EUID -ne 0 ]]; then
  die "run as root: sudo $0 $*"
fi

# --- Debian packages for this release: trixie first, bookworm still -------------------------
# Raspberry Pi OS trixie (Debian 13, the Imager's default since October 2025) ships Node 20.19
# as its own nodejs (npm is a package of its own in Debian) and has no pigpio package
# (joan2937/pigpio#632): the kernel board (sysfs PWM) or a PCA9685 HAT drive the motors there.
# bookworm (Debian 12) has pigpio, and a Node 18 too old for carbot: Node 20+ from NodeSource.
# With --root (or --print-packages) the commands are printed, never run.
release=""
if [[ -r "$root/etc/os-release" ]]; then release="$(sed -n 's/^VERSION_CODENAME=//p' "$root/etc/os-release" | tr -d "\"'" | head -n 1)"; fi
release_packages=(git build-essential python3 mosquitto mosquitto-clients qrencode)
release_has_pigpio=0
case "$release" in
  buster | bullseye | bookworm) release_packages+=(pigpio); release_has_pigpio=1 ;;
  "") ;;
  *) # trixie and later: Node 20+ of their own (unless a Node 20+ is there already, e.g. NodeSource's), no pigpio
    have_major="$("$node_bin" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)"
    if ! [[ "$have_major" =~ ^[0-9]+$ ]] || ((have_major < 20)); then release_packages+=(nodejs npm); fi
    ;;
esac
if [[ -z "$release" ]]; then
  echo "install.sh: release: unknown (no VERSION_CODENAME in $root/etc/os-release): installing the common packages only"
elif ((release_has_pigpio)); then
  echo "install.sh: release: $release (pigpio available)"
else
  echo "install.sh: release: $release (no pigpio package: the kernel board or a PCA9685 HAT)"
fi
if ((packages)); then
  if [[ -n "$root" ]] || ((print_packages)); then
    echo "install.sh: the packages this release needs (run on the Pi):"
    echo "    sudo apt-get install -y ${release_packages[*]}"
    if ((release_has_pigpio)); then echo "    sudo systemctl disable --now pigpiod    # carbot drives pigpio itself"; fi
  else
    available=()
    for package in "${release_packages[@]}"; do
      if apt-cache show "$package" >/dev/null 2>&1; then available+=("$package"); else echo "install.sh: $package is not in this release's archive: skipped"; fi
    done
    echo "install.sh: installing ${available[*]}"
    apt-get install -y "${available[@]}" || die "apt-get install failed (above); sudo apt-get update first?"
    if [[ " ${available[*]} " == *" pigpio "* ]] && ((run_systemctl)); then
      "$systemctl" disable --now pigpiod.service 2>/dev/null || true # carbot drives pigpio itself
    fi
  fi
fi

need_node() {
  if ((release_has_pigpio)); then
    cat >&2 <<EOF
install.sh: carbot needs Node.js 20 or newer at $node_bin ($1).
Raspberry Pi OS $release's own package ('apt install nodejs') is Node 18 or older, which is too old.
Install Node 20 from NodeSource (64-bit, or 32-bit on a Pi 2 or newer):

    curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash -
    sudo apt-get install -y nodejs

then run this script again. A node installed elsewhere (nvm, an unofficial build for a Pi Zero
or Pi 1) can be used with --node /path/to/node.
EOF
  else
    cat >&2 <<EOF
install.sh: carbot needs Node.js 20 or newer at $node_bin ($1).
On Raspberry Pi OS trixie, Debian's own package is Node 20: sudo apt-get install -y nodejs npm
(on bookworm Node 20 comes from NodeSource: docs/install.md), then run this script again.
A node installed elsewhere (nvm, an unofficial build for a Pi Zero or Pi 1) can be used with
--node /path/to/node.
EOF
  fi
  exit 1
}

[[ -x "$node_bin" ]] || need_node "not found"
node_version="$("$node_bin" --version 2>/dev/null)" || need_node "it does not run"
node_major="${node_version#v}"
node_major="${node_major%%.*}"
if ! [[ "$node_major" =~ ^[0-9]+$ ]] || ((node_major < 20)); then need_node "found $node_version"; fi
command -v npm >/dev/null || die "npm not found on PATH (it comes with the nodejs package)"

if ((build)); then
  command -v node >/dev/null || die "node not found on PATH"
  # Native modules (pigpio, epoll) only load in the node version that built them.
  if [[ "$(node -p process.versions.modules)" != "$("$node_bin" -p process.versions.modules)" ]]; then
    die "the node on PATH ($(node --version)) is not the one that will run carbot ($node_bin, $node_version): put $node_bin first on PATH or pass --node"
  fi
  # Under sudo, build as the owner of the checkout so its node_modules/ and dist/ stay theirs.
  as_owner=()
  if [[ $EUID -eq 0 && -n "${SUDO_USER:-}" && "$SUDO_USER" != root && "$(stat -c %U "$src")" == "$SUDO_USER" ]]; then
    as_owner=(sudo -u "$SUDO_USER" -H --)
  fi
  echo "install.sh: building in $src (npm ci, npm run build)"
  if ! (cd "$src" && "${as_owner[@]}" npm ci --no-audit --no-fund && "${as_owner[@]}" npm run build); then
    die "the build failed (above). On a Raspberry Pi the pigpio module needs the pigpio C library: sudo apt-get install pigpio"
  fi
fi
[[ -f "$src/dist/cli.js" ]] || die "$src/dist/cli.js is missing: build first (npm ci && npm run build) or drop --skip-build"
[[ -d "$src/node_modules" ]] || die "$src/node_modules is missing: run npm ci first or drop --skip-build"

umask 022
opt="$root/opt/carbot"
unit="$root/etc/systemd/system/carbot.service"

# The new tree is assembled next to the old one and swapped in, so a failed copy or prune
# leaves the installed carbot as it was.
mkdir -p "$root/opt"
stage="$(mktemp -d "$root/opt/.carbot-install.XXXXXX")"
trap 'rm -rf "$stage"' EXIT
cp -R "$src/dist" "$stage/dist"
# The browser remote's page, served from beside dist/.
cp -R "$src/web" "$stage/web"
cp "$src/package.json" "$src/package-lock.json" "$stage/"
mkdir "$stage/node_modules"
cp -R "$src/node_modules/." "$stage/node_modules/"
# Production dependencies only: the copy of the built tree loses its devDependencies, and
# the native modules already built for this node are kept rather than fetched and built again.
(cd "$stage" && npm prune --omit=dev --offline --ignore-scripts --no-audit --no-fund --loglevel=error)
chmod 0755 "$stage"
# Whoever carbot runs as (root for pigpio, else carbot), no file it runs may stay writable by the user who built it.
if [[ $EUID -eq 0 ]]; then chown -R 0:0 "$stage"; fi
rm -rf "$opt.old"
if [[ -e "$opt" ]]; then mv "$opt" "$opt.old"; fi
mv "$stage" "$opt"
rm -rf "$opt.old"
trap - EXIT
echo "install.sh: installed carbot $("$node_bin" -p 'require(process.argv[1]).version' "$opt/package.json") to $opt"

# The `carbot` command (carbot send, carbot --check-config) on everyone's PATH.
bin="$root/usr/local/bin/carbot"
mkdir -p "$(dirname "$bin")"
bin_tmp="$(mktemp)"
cat >"$bin_tmp" <<EOF
#!/bin/sh
# Installed by carbot's scripts/install.sh.
exec '$node_bin' /opt/carbot/dist/cli.js "\$@"
EOF
install -m 0755 "$bin_tmp" "$bin"
rm -f "$bin_tmp"
echo "install.sh: installed $bin"

# Both files may hold passwords: readable by root and the administrators' group only, whose
# members could read them with sudo anyway, so that `carbot send` works for them without sudo.
group_ok=0
if getent group "$admin_group" >/dev/null 2>&1; then
  group_ok=1
else
  echo "install.sh: warning: there is no group $admin_group: settings stay readable by root only (--admin-group chooses another)"
fi
# A new settings file: 0640 root:<group>, or 0600 if the group cannot be used.
protect() {
  if ((group_ok)) && chgrp "$admin_group" "$1" 2>/dev/null; then
    chmod 0640 "$1"
  else
    chmod 0600 "$1"
  fi
}
# A file exactly as an older install.sh left it (0600, root's group) becomes readable by the
# group too; any other mode is the user's choice and stays.
widen_old() {
  if [[ "$(stat -c '%a %g' "$1")" == "600 0" ]] && ((group_ok)) && chgrp "$admin_group" "$1" 2>/dev/null; then
    chmod 0640 "$1"
    echo "install.sh: $1 is now readable by the group $admin_group too (it was root's only)"
  fi
}
if [[ -e "$root/etc/default/carbot" ]]; then
  echo "install.sh: kept the existing $root/etc/default/carbot"
  widen_old "$root/etc/default/carbot"
else
  mkdir -p "$root/etc/default"
  install -m 0600 "$src/scripts/carbot.default" "$root/etc/default/carbot"
  protect "$root/etc/default/carbot"
  echo "install.sh: created $root/etc/default/carbot"
fi
if [[ ! -d "$root/etc/carbot" ]]; then install -d -m 0755 "$root/etc/carbot"; fi
token=""
if [[ -e "$root/etc/carbot/config.json" ]]; then
  echo "install.sh: kept the existing $root/etc/carbot/config.json"
  widen_old "$root/etc/carbot/config.json"
else
  # The remote page is reachable from the network: it gets a token of its own from the start.
  token="$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"
  config_tmp="$(mktemp)"
  "$node_bin" -e '
    const fs = require("fs");
    const [example, token, out] = process.argv.slice(1);
    const config = JSON.parse(fs.readFileSync(example, "utf8"));
    config.http = { ...config.http, token };
    fs.writeFileSync(out, JSON.stringify(config, null, 2) + "\n");
  ' "$src/scripts/config.example.json" "$token" "$config_tmp"
  install -m 0600 "$config_tmp" "$root/etc/carbot/config.json"
  rm -f "$config_tmp"
  protect "$root/etc/carbot/config.json"
  echo "install.sh: created $root/etc/carbot/config.json (with a new token for the remote page)"
fi

# Which unit: only pigpio needs root. `carbot boards` prints the boards the configuration drives
# on this machine (its CARBOT_* variables from /etc/default/carbot included).
settings_env=()
if [[ -r "$root/etc/default/carbot" ]]; then
  mapfile -t settings_env < <(grep -E '^CARBOT_[A-Z0-9_]+=' "$root/etc/default/carbot" | sed -E 's/^([^=]+)="(.*)"$/\1=\2/' || true)
fi
# The configuration carbot will run with (the config.json kept or just created, and
# /etc/default/carbot's variables) must be one it accepts: the service would exit 78 at every
# start. carbot --check-config lists every problem; the installer stops on them, before the
# unit is installed, enabled or started, and exits with carbot's code.
check_out="$(mktemp)"
check_status=0
env "${settings_env[@]}" "$node_bin" "$opt/dist/cli.js" --check-config --config "$root/etc/carbot/config.json" >/dev/null 2>"$check_out" ||
  check_status=$?
if ((check_status != 0)); then
  {
    echo "install.sh: carbot cannot run with its configuration ($root/etc/carbot/config.json and the CARBOT_* variables of $root/etc/default/carbot); carbot --check-config says:"
    sed 's/^/    /' "$check_out"
    echo "install.sh: fix it and run install.sh again (sudo carbot --check-config checks it); carbot is copied to $opt, but its unit was not installed, enabled or started"
  } >&2
  rm -f "$check_out"
  exit "$check_status"
fi
# Warnings (a page reachable from the network, …): shown, not fatal.
if [[ -s "$check_out" ]]; then sed 's/^/    /' "$check_out"; fi
rm -f "$check_out"

# CARBOT_SYSTEM_ROOT: the board and libraries asked about are those of the tree being filled.
if boards="$(env "${settings_env[@]}" CARBOT_SYSTEM_ROOT="$root" "$node_bin" "$opt/dist/cli.js" boards --config "$root/etc/carbot/config.json" 2>&1)"; then
  boards="$(printf '%s' "$boards" | tr '\n' ' ' | sed 's/ $//')"
else
  echo "install.sh: warning: carbot cannot use its configuration as it is (carbot --check-config says why):"
  printf '%s\n' "$boards" | sed 's/^/    /'
  boards=""
fi
if [[ " $boards " == *" pigpio "* ]]; then
  variant=carbot-pigpio.service
  variant_why="the pigpio board needs root: it maps /dev/mem and drives the DMA engine"
else
  variant=carbot.service
  variant_why="boards: ${boards:-unknown}; runs as the user carbot, no root"
fi

# --- The kernel board's config.txt lines -----------------------------------------------------
# On a Pi 5, and on a Pi 1-4 without pigpio (trixie), the kernel board drives the PWM pins:
# their overlay must be in config.txt (docs/boards-kernel.md). Printed, not written: the boot
# configuration is the user's.
if [[ " $boards " == *" kernel "* ]]; then
  config_txt="$(env "${settings_env[@]}" CARBOT_SYSTEM_ROOT="$root" "$node_bin" "$opt/dist/cli.js" config-txt --config "$root/etc/carbot/config.json" 2>/dev/null || true)"
  boot_config=/boot/firmware/config.txt
  if [[ ! -e "$root$boot_config" && -e "$root/boot/config.txt" ]]; then boot_config=/boot/config.txt; fi
  missing=()
  while IFS= read -r line; do
    [[ -n "$line" ]] || continue
    if ! grep -qxF "$line" "$root$boot_config" 2>/dev/null; then missing+=("$line"); fi
  done <<<"$config_txt"
  if ((${#missing[@]} > 0)); then
    echo "install.sh: the kernel board drives the motors' PWM here: add to $boot_config, then reboot:"
    printf '    %s\n' "${missing[@]}"
  elif [[ -n "$config_txt" ]]; then
    echo "install.sh: $boot_config has the lines the kernel board needs"
  fi
fi

# The unprivileged unit's user: in gpio (sysfs GPIO and PWM, by Raspberry Pi OS's udev rules) and
# i2c (/dev/i2c-N). Groups that do not exist yet (not a Raspberry Pi OS) are created. It is made
# with the pigpio unit too: carbot-safe-state.service, the stop at boot, runs as carbot either way.
service_user=root
if [[ $variant == carbot.service ]]; then service_user=carbot; fi
{
  prefix=()
  [[ -z "$root" ]] || prefix=(--prefix "$root")
  if [[ ! -e "$root/etc/passwd" ]]; then
    echo "install.sh: $root/etc/passwd does not exist: not creating the user carbot there"
  else
    has() { grep -q "^$2:" "$root/etc/$1"; }
    for group in gpio i2c; do
      if ! has group "$group"; then
        groupadd "${prefix[@]}" --system "$group"
        echo "install.sh: created the group $group"
      fi
    done
    if has passwd carbot; then
      usermod "${prefix[@]}" --append --groups gpio,i2c carbot
    else
      useradd "${prefix[@]}" --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --comment "carbot service" --groups gpio,i2c carbot
      echo "install.sh: created the user carbot (groups gpio, i2c) that the service runs as"
    fi
    # carbot reads its settings as that user: it owns them (the unit makes /etc read-only to it),
    # the administrators' group keeps reading them. Files another owner has are left as they are.
    carbot_uid="$(awk -F: '$1 == "carbot" { print $3 }' "$root/etc/passwd")"
    for file in "$root/etc/carbot/config.json" "$root/etc/default/carbot"; do
      if [[ -e "$file" && "$(stat -c %u "$file")" == 0 && -n "$carbot_uid" ]]; then chown "$carbot_uid" "$file"; fi
    done
  fi
}

# The Python carbot.py this replaces, wherever its unit is: a carbot.service that does not run
# /opt/carbot (another program's, most likely carbot.py's), or a unit of any name that runs
# carbot.py, in /etc/systemd/system, /lib/systemd/system or /usr/lib/systemd/system (where
# carbot.py's repository put it). Each is backed up to /var/backups/carbot and disabled, and
# install.sh says so: a carbot.service in /lib would otherwise be overridden, unsaid, by the
# one installed to /etc below, and another unit running carbot.py would drive the same motors.
# A unit backed up before with the same content was dealt with by an earlier run.
retire_python_units() {
  local backups="$root/var/backups/carbot" stamp dir file name real what backup earlier done seen=" " retired=0
  stamp="$(date +%Y%m%d-%H%M%S)"
  for dir in "$root/etc/systemd/system" "$root/lib/systemd/system" "$root/usr/lib/systemd/system"; do
    for file in "$dir"/*.service; do
      [[ -f "$file" ]] || continue
      # /lib is a link to /usr/lib on merged-/usr systems: one file, seen once.
      real="$(readlink -f "$file")"
      [[ "$seen" != *" $real "* ]] || continue
      seen+="$real "
      name="$(basename "$file")"
      if [[ "$name" == carbot.service ]]; then
        ! grep -q '^ExecStart=.* /opt/carbot/dist/cli\.js' "$file" || continue
      else
        grep -q '^ExecStart=.*carbot\.py' "$file" || continue
      fi
      done=0
      for earlier in "$backups/$name".*; do
        if [[ -f "$earlier" ]] && cmp -s "$earlier" "$file"; then done=1; fi
      done
      ((done == 0)) || continue
      mkdir -p "$backups"
      backup="$backups/$name.$stamp"
      cp -p "$file" "$backup"
      what="another program's unit"
      if grep -qi '^ExecStart=.*\(python\|carbot\.py\)' "$file"; then what="the Python carbot's unit"; fi
      echo "install.sh: $file was $what ($(grep -m1 '^ExecStart=' "$file" || echo 'no ExecStart')): backed up to $backup"
      if ((run_systemctl)); then
        # Before carbot's own carbot.service is in /etc: the name still means this unit.
        if "$systemctl" disable --now "$name"; then
          echo "install.sh: disabled and stopped $name (systemctl disable --now $name)"
        else
          problems+=("could not disable $name (systemctl disable --now $name failed): it may still run carbot.py beside carbot")
        fi
      elif [[ "$name" == carbot.service && "$dir" == "$root/etc/systemd/system" ]]; then
        echo "install.sh: carbot's unit replaces it below"
      else
        echo "install.sh: warning: not running systemctl, so $name is still enabled, and two programs would drive the same motors: sudo systemctl disable --now $name"
      fi
      if [[ "$name" == carbot.service && "$dir" != "$root/etc/systemd/system" ]]; then
        echo "install.sh: $file stays where it is, but carbot's unit in /etc/systemd/system takes the name carbot.service from now on: it does not run again (uninstall.sh brings it back, disabled)"
      fi
      retired=1
    done
  done
  if ((retired)); then echo "install.sh: the carbot service now runs this carbot; see docs/migrating-from-carbot-py.md"; fi
}
retire_python_units

# The root unit reads these files as root: one that another user owns or can write would let
# that user run code as root (NODE_OPTIONS in /etc/default/carbot) or have root send any file
# it can read as the MQTT password (mqtt.passwordFile). So they become root's, and nobody
# else's to write, whoever had them before (the rootless unit's user carbot, say); carbot
# refuses to start as root on such a file.
if [[ $service_user == root ]]; then
  for file in "$root/etc/carbot/config.json" "$root/etc/default/carbot"; do
    [[ -e "$file" ]] || continue
    if [[ "$(stat -c %u "$file")" != 0 ]]; then
      if [[ $EUID -eq 0 ]]; then
        chown 0 "$file"
        echo "install.sh: $file now belongs to root: the pigpio unit reads it as root"
      else
        echo "install.sh: warning: $file does not belong to root, and the pigpio unit reads it as root: sudo chown root $file"
      fi
    fi
    if [[ -n "$(find "$file" -maxdepth 0 -perm /022)" ]]; then
      chmod go-w "$file"
      echo "install.sh: $file is no longer writable by its group or others: the pigpio unit reads it as root"
    fi
  done
fi

mkdir -p "$(dirname "$unit")"
unit_tmp="$(mktemp)"
# A node that has --disable-sigusr1 (22.14 and newer) gets it: no SIGUSR1 opens its inspector,
# not even during its start-up (the unit's --inspect-port covers older ones).
node_flags=""
if "$node_bin" --disable-sigusr1 -e 0 >/dev/null 2>&1; then node_flags="--disable-sigusr1 "; fi
sed -e "s#^ExecStart=/usr/bin/node #ExecStart=$node_bin $node_flags#" -e "s#^ExecStopPost=/usr/bin/node #ExecStopPost=$node_bin $node_flags#" "$src/$variant" >"$unit_tmp"
install -m 0644 "$unit_tmp" "$unit"
rm -f "$unit_tmp"
echo "install.sh: installed $unit (from $variant: $variant_why)"


# ---- The stop at boot (carbot-safe-state.service) --------------------------------------------
# A PCA9685 keeps driving through a reboot of the Pi: this oneshot runs `carbot safe-state` as
# soon as /dev/i2c-1 exists, before the network. The udev rule makes the bus a systemd device
# unit, and enabling links the unit into that device's wants.
boot_unit="$root/etc/systemd/system/carbot-safe-state.service"
i2c_rule="$root/etc/udev/rules.d/60-carbot-i2c.rules"
boot_tmp="$(mktemp)"
sed -e "s#^ExecStart=/usr/bin/node #ExecStart=$node_bin #" "$src/carbot-safe-state.service" >"$boot_tmp"
install -m 0644 "$boot_tmp" "$boot_unit"
rm -f "$boot_tmp"
mkdir -p "$(dirname "$i2c_rule")"
install -m 0644 "$src/scripts/60-carbot-i2c.rules" "$i2c_rule"
echo "install.sh: installed $boot_unit and $i2c_rule (every boot stops the motor outputs before the network comes up)"
boot_enabled=0
if ((run_systemctl == 0)) && [[ -n "$root" ]] && command -v systemctl >/dev/null; then
  # Enabling only makes links in the tree: systemctl does that offline with --root.
  if systemctl --quiet --root="$root" enable carbot-safe-state.service; then
    echo "install.sh: enabled carbot-safe-state.service in $root"
    boot_enabled=1
  fi
fi
# ---- end of the stop at boot -----------------------------------------------------------------

# mosquitto: add only what carbot needs and the configuration lacks, check that mosquitto
# starts on the result before switching, and put the old file back if the restart fails.
if ((mosquitto)); then
  # 00-: read before any file of the user's, so that what the user sets (allow_anonymous false,
  # above all) comes later and wins; carbot.conf is where an older install.sh wrote the same.
  dropin="$root/etc/mosquitto/conf.d/00-carbot.conf"
  old_dropin="$root/etc/mosquitto/conf.d/carbot.conf"
  candidate="$(mktemp)"
  set +e
  "$node_bin" "$src/scripts/mosquitto/merge.js" --root "${root:-/}" --out "$candidate" \
    --tcp-port "$mqtt_port" --ws-port "$ws_port"
  merged=$?
  set -e
  case $merged in
    0)
      previous=""
      if [[ -e "$dropin" ]]; then
        mkdir -p "$root/var/backups/carbot"
        previous="$root/var/backups/carbot/mosquitto-00-carbot.conf.$(date +%Y%m%d-%H%M%S)"
        cp -p "$dropin" "$previous"
        echo "install.sh: backed up $dropin to $previous"
      fi
      # An older install's drop-in (merge.js knows it by its first line) gives way to the new one.
      previous_old=""
      if [[ -e "$old_dropin" ]] && head -n 1 "$old_dropin" | grep -q "^# carbot's additions to mosquitto"; then
        mkdir -p "$root/var/backups/carbot"
        previous_old="$root/var/backups/carbot/mosquitto-carbot.conf.$(date +%Y%m%d-%H%M%S)"
        cp -p "$old_dropin" "$previous_old"
        rm -f "$old_dropin"
        echo "install.sh: replaced $old_dropin (backed up to $previous_old) by $dropin, which mosquitto reads before your own files"
      fi
      if [[ -s "$candidate" ]]; then
        install -m 0644 "$candidate" "$dropin"
        echo "install.sh: wrote $dropin"
      else
        rm -f "$dropin"
        echo "install.sh: removed $dropin (the rest of mosquitto's configuration has all carbot needs)"
      fi
      if ((run_systemctl)) && ! "$systemctl" restart mosquitto.service; then
        if [[ -n "$previous" ]]; then cp -p "$previous" "$dropin"; else rm -f "$dropin"; fi
        if [[ -n "$previous_old" ]]; then cp -p "$previous_old" "$old_dropin"; fi
        echo "install.sh: mosquitto did not restart with carbot's additions: put its configuration back as it was" >&2
        if "$systemctl" restart mosquitto.service; then
          echo "install.sh: mosquitto runs again as before" >&2
        else
          echo "install.sh: mosquitto does not start even as before: see journalctl -u mosquitto" >&2
        fi
        problems+=("mosquitto did not restart with carbot's additions, so its configuration was put back as it was (journalctl -u mosquitto says why)")
      fi
      ;;
    10 | 11) ;;
    *) problems+=("mosquitto's configuration was left as it was: mosquitto would not start with carbot's additions (see above)") ;;
  esac
  rm -f "$candidate"
fi

# The link that opens the remote page on a phone, with the token in it; a QR code to scan.
show_link() {
  local link
  link="http://$(hostname).local:8080/?token=$token"
  echo "install.sh: the remote page with its token (open it once on the phone; keep it to yourself):"
  echo "    $link"
  if command -v qrencode >/dev/null 2>&1; then
    qrencode -t ansiutf8 -m 2 "$link"
  else
    echo "install.sh: no QR code: qrencode is not installed (sudo apt-get install qrencode)"
  fi
}

# Last, what this machine still needs for the configuration (docs/doctor.md): it only reads,
# and whatever it finds, the install has succeeded. Not for a tree being filled (--root).
run_doctor() {
  [[ -z "$root" ]] || return 0
  echo "install.sh: checking this machine with carbot doctor (it changes nothing):"
  if ! env "${settings_env[@]}" "$node_bin" "$opt/dist/cli.js" doctor --config "$root/etc/carbot/config.json"; then
    echo "install.sh: carbot doctor found something to fix (the ✗ lines above); run it again after fixing: sudo carbot doctor"
  fi
}

finish() {
  run_doctor || true
  if [[ -n "$token" ]]; then show_link; fi
  if ((${#problems[@]} > 0)); then
    printf 'install.sh: %s\n' "${problems[@]}" >&2
    exit 1
  fi
}

if ((run_systemctl == 0)); then
  if ((boot_enabled == 0)); then
    echo "install.sh: carbot-safe-state.service is not enabled: sudo systemctl enable carbot-safe-state.service"
  fi
  finish
  exit 0
fi

command -v "$systemctl" >/dev/null || die "systemctl not found: is this a systemd machine? (--no-systemctl skips this step)"
"$systemctl" daemon-reload
"$systemctl" enable carbot.service
"$systemctl" enable carbot-safe-state.service
# The rule applies from the next boot on; udev reads it now too (on this machine, not a tree).
if [[ -z "$root" ]]; then udevadm control --reload 2>/dev/null || true; fi
# restart rather than start: after an upgrade the running carbot is the old code.
# --no-block: carbot reports ready only once it reaches the broker, which may take a while.
"$systemctl" restart --no-block carbot.service
for _ in $(seq 1 30); do
  state="$("$systemctl" show --property=ActiveState --value carbot.service)"
  [[ "$state" == activating ]] || break
  sleep 0.5
done
case "$state" in
  active)
    echo "install.sh: carbot is running"
    ;;
  activating)
    echo "install.sh: carbot is still starting: it reports ready once connected to the broker and subscribed"
    "$systemctl" --no-pager status carbot.service || true
    ;;
  *)
    "$systemctl" --no-pager status carbot.service || true
    journalctl --no-pager -u carbot.service -n 20 || true
    run_doctor || true
    die "carbot did not start ($state)"
    ;;
esac
cat <<'EOF'
Settings: /etc/carbot/config.json and /etc/default/carbot (CARBOT_* variables); apply with
    sudo systemctl restart carbot
Try it: carbot send stop     Logs: journalctl -u carbot -f     State: systemctl status carbot
EOF
finish
