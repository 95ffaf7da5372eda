#!/usr/bin/env bash
# Installs carbot as a systemd service: builds this source tree, installs the compiled service
# with its production dependencies to /opt/carbot, the unit to /etc/systemd/system, creates
# /etc/default/carbot and /etc/carbot/config.json when they do not exist yet (never overwrites
# them), then enables and (re)starts carbot. Running it again upgrades in place.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: sudo scripts/install.sh [options]

  --root DIR       install below DIR instead of / (DESTDIR=DIR works too); implies --no-systemctl
  --no-systemctl   do not reload systemd, enable or start carbot
  --skip-build     use the dist/ and node_modules/ already in the source tree (no npm ci, no build)
  --node PATH      the node that runs carbot (default /usr/bin/node); written into the installed unit
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

while (($# > 0)); do
  case "$1" in
    --root) [[ $# -ge 2 ]] || die "--root needs a directory"; root="$2"; shift 2 ;;
    --root=*) root="${1#--root=}"; shift ;;
    --no-systemctl) run_systemctl=0; shift ;;
    --skip-build) build=0; shift ;;
    --node) [[ $# -ge 2 ]] || die "--node needs a path"; node_bin="$2"; shift 2 ;;
    --node=*) node_bin="${1#--node=}"; shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown option: $1" ;;
  esac
done

root="${root%/}"
[[ "$node_bin" == /* ]] || die "--node needs an absolute path (it goes into the unit's ExecStart)"
if [[ -n "$root" && $run_systemctl -eq 1 ]]; then
  # systemctl would act on this machine, not on the tree being filled.
  echo "install.sh: installing into $root, so not running systemctl"
  run_systemctl=0
fi
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
# carbot runs as root: no file it runs may stay writable by the user who built it.
if [[ $EUID -eq 0 ]]; then chown -R 0:0 "$stage"; fi
rm -rf "$opt.old"
if [[ -e "$opt" ]]; then mv "$opt" "$opt.old"; fi
mv "$stage" "$opt"
rm -rf "$opt.old"
trap - EXIT
echo "install.sh: installed carbot $("$node_bin" -p 'require(process.argv[1]).version' "$opt/package.json") to $opt"

mkdir -p "$(dirname "$unit")"
unit_tmp="$(mktemp)"
sed -e "s#^ExecStart=/usr/bin/node #ExecStart=$node_bin #" -e "s#^ExecStopPost=/usr/bin/node #ExecStopPost=$node_bin #" "$src/carbot.service" >"$unit_tmp"
install -m 0644 "$unit_tmp" "$unit"
rm -f "$unit_tmp"
echo "install.sh: installed $unit"

# Both files may hold the MQTT password, hence 0600.
if [[ -e "$root/etc/default/carbot" ]]; then
  echo "install.sh: kept the existing $root/etc/default/carbot"
else
  mkdir -p "$root/etc/default"
  install -m 0600 "$src/scripts/carbot.default" "$root/etc/default/carbot"
  echo "install.sh: created $root/etc/default/carbot"
fi
if [[ ! -d "$root/etc/carbot" ]]; then install -d -m 0755 "$root/etc/carbot"; fi
if [[ -e "$root/etc/carbot/config.json" ]]; then
  echo "install.sh: kept the existing $root/etc/carbot/config.json"
else
  install -m 0600 "$src/scripts/config.example.json" "$root/etc/carbot/config.json"
  echo "install.sh: created $root/etc/carbot/config.json"
fi

if ((run_systemctl == 0)); then
  exit 0
fi

command -v systemctl >/dev/null || die "systemctl not found: is this a systemd machine? (--no-systemctl skips this step)"
systemctl daemon-reload
systemctl enable carbot.service
# restart rather than start: after an upgrade the running carbot is the old code.
# --no-block: carbot reports ready only once it reaches the broker, which may take a while.
systemctl restart --no-block carbot.service
for _ in $(seq 1 30); do
  state="$(systemctl show --property=ActiveState --value carbot.service)"
  [[ "$state" == activating ]] || break
  sleep 0.5
done
case "$state" in
  active)
    echo "install.sh: carbot is running"
    ;;
  activating)
    echo "install.sh: carbot is still starting: it reports ready once connected to the broker and subscribed"
    systemctl --no-pager status carbot.service || true
    ;;
  *)
    systemctl --no-pager status carbot.service || true
    journalctl --no-pager -u carbot.service -n 20 || true
    die "carbot did not start ($state)"
    ;;
esac
cat <<'EOF'
Settings: /etc/carbot/config.json and /etc/default/carbot (CARBOT_* variables); apply with
    sudo systemctl restart carbot
Logs: journalctl -u carbot -f     State: systemctl status carbot
EOF
