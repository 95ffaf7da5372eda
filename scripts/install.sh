#!/usr/bin/env bash
# Installs carbot as a systemd service: builds this source tree, installs the compiled service
# with its production dependencies to /opt/carbot and a `carbot` command to /usr/local/bin, the
# unit to /etc/systemd/system (backing up another program's carbot.service first, such as the
# Python carbot's), creates /etc/default/carbot and /etc/carbot/config.json (with a token for
# the remote page) when they do not exist yet (never overwrites them), adds what carbot needs
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
  -h, --help       show this help
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

need_node() {
  cat >&2 <<EOF
install.sh: carbot needs Node.js 20 or newer at $node_bin ($1).
Raspberry Pi OS bookworm's own package ('apt install nodejs') is Node 18, which is too old.
Install Node 20 from NodeSource (64-bit, or 32-bit on a Pi 2 or newer):

    curl -fsSL https://deb.nodesource.com/setup_20.x | sudo -E bash -
    sudo apt-get install -y nodejs

then run this script again. A node installed elsewhere (nvm, an unofficial build for a Pi Zero
or Pi 1) can be used with --node /path/to/node.
EOF
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
if boards="$(env "${settings_env[@]}" "$node_bin" "$opt/dist/cli.js" boards --config "$root/etc/carbot/config.json" 2>&1)"; then
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

# The unprivileged unit's user: in gpio (sysfs GPIO and PWM, by Raspberry Pi OS's udev rules) and
# i2c (/dev/i2c-N). Groups that do not exist yet (not a Raspberry Pi OS) are created.
service_user=root
if [[ $variant == carbot.service ]]; then
  service_user=carbot
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
fi

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
# A carbot.service that does not run /opt/carbot is another program's, most likely the Python
# carbot.py this replaces: keep a copy before overwriting it, and say where.
if [[ -e "$unit" ]] && ! grep -q '^ExecStart=.* /opt/carbot/dist/cli\.js' "$unit"; then
  backups="$root/var/backups/carbot"
  mkdir -p "$backups"
  backup="$backups/carbot.service.$(date +%Y%m%d-%H%M%S)"
  cp -p "$unit" "$backup"
  what="another program's unit"
  if grep -qi '^ExecStart=.*python' "$unit"; then what="the Python carbot's unit"; fi
  echo "install.sh: $unit was $what ($(grep -m1 '^ExecStart=' "$unit" || echo 'no ExecStart')): backed up to $backup"
  echo "install.sh: the carbot service now runs this carbot; see docs/migrating-from-carbot-py.md"
fi
unit_tmp="$(mktemp)"
# A node that has --disable-sigusr1 (22.14 and newer) gets it: no SIGUSR1 opens its inspector,
# not even during its start-up (the unit's --inspect-port covers older ones).
node_flags=""
if "$node_bin" --disable-sigusr1 -e 0 >/dev/null 2>&1; then node_flags="--disable-sigusr1 "; fi
sed -e "s#^ExecStart=/usr/bin/node #ExecStart=$node_bin $node_flags#" -e "s#^ExecStopPost=/usr/bin/node #ExecStopPost=$node_bin $node_flags#" "$src/$variant" >"$unit_tmp"
install -m 0644 "$unit_tmp" "$unit"
rm -f "$unit_tmp"
echo "install.sh: installed $unit (from $variant: $variant_why)"
# Another unit that still runs carbot.py would drive the same motors.
for other in "$root"/etc/systemd/system/*.service; do
  [[ -e "$other" && "$other" != "$unit" ]] || continue
  if grep -q '^ExecStart=.*carbot\.py' "$other"; then
    name="$(basename "$other")"
    echo "install.sh: warning: $name runs carbot.py too, and two programs would drive the same motors;" \
      "stop it: sudo systemctl disable --now $name"
  fi
done


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

finish() {
  if [[ -n "$token" ]]; then show_link; fi
  if ((${#problems[@]} > 0)); then
    printf 'install.sh: %s\n' "${problems[@]}" >&2
    exit 1
  fi
}

if ((run_systemctl == 0)); then
  finish
  exit 0
fi

command -v "$systemctl" >/dev/null || die "systemctl not found: is this a systemd machine? (--no-systemctl skips this step)"
"$systemctl" daemon-reload
"$systemctl" enable carbot.service
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
    die "carbot did not start ($state)"
    ;;
esac
cat <<'EOF'
Settings: /etc/carbot/config.json and /etc/default/carbot (CARBOT_* variables); apply with
    sudo systemctl restart carbot
Try it: carbot send stop     Logs: journalctl -u carbot -f     State: systemctl status carbot
EOF
finish
