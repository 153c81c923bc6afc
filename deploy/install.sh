#!/usr/bin/env bash
# Install speakerd as a systemd service on Raspberry Pi OS / Debian (bookworm, trixie).
#
#   sudo deploy/install.sh                 install or upgrade, enable and start speakerd.service
#   sudo deploy/install.sh --uninstall     stop and remove the unit, the journal catalog and
#                                          /opt/speakerd (keeps /etc/speakerd, /var/lib/speakerd)
#   sudo deploy/install.sh --purge         --uninstall, and remove config, state and the user
#   deploy/install.sh --root DIR [...]     staging: write everything under DIR; no apt-get,
#                                          useradd, chown or systemctl (logged instead); the
#                                          journal catalog is compiled into DIR (journalctl --root)
#   sudo deploy/install.sh --journal-upload URL
#                                          also ship this device's journal to a collector
#                                          (deploy/collector.md): installs systemd-journal-remote,
#                                          writes /etc/systemd/journal-upload.conf.d/50-speakerd.conf
#                                          and enables systemd-journal-upload.service; https:// with
#                                          the admin's certificates (see that file), http:// only in
#                                          a lab; --uninstall removes it again
#   sudo deploy/install.sh --no-wake-word  leave out onnxruntime-node, the wake word's runtime
#                                          (/opt/speakerd on arm64: ~51 MB with it, 23 MB without);
#                                          later runs remember it until --wake-word
#   sudo deploy/install.sh --wake-word     put it back (the default on a first install)
#
# The source is the repository this script lives in; build it first: npm ci && npm run build.
# Idempotent: unchanged files are not rewritten, npm ci runs only when package-lock.json, the
# Node ABI or the wake-word choice changed, and a second run reports "nothing changed".
# onnxruntime-node's npm package bundles the binaries of five platforms (294 MB unpacked); all
# but this one's are removed after npm ci: nothing here could load them.
set -euo pipefail
umask 022

readonly NAME=speakerd
# libsystemd-dev, build-essential, python3 and pkg-config build the native bindings (sd-notify;
# the systemd-journald binding finds libsystemd through pkg-config: without it its build fails,
# and npm then rolls back the other native installs too).
readonly APT_PACKAGES=(alsa-utils libsystemd-dev pkg-config build-essential python3)
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
readonly SRC

ROOT=""
MODE=install
PURGE=0
UPLOAD_URL=""
# yes / no: --wake-word / --no-wake-word; empty: as the last npm ci was (yes on a first install).
WAKE_WORD=""

log() { printf '%s: %s\n' "$NAME" "$*"; }
die() {
  printf '%s: error: %s\n' "$NAME" "$*" >&2
  exit 1
}
# The header comment above, up to the first line that is not a comment.
usage() { sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}"; }

while (($#)); do
  case $1 in
  --root)
    (($# >= 2)) || die "--root needs a directory"
    ROOT=$2
    shift 2
    ;;
  --root=*)
    ROOT=${1#--root=}
    shift
    ;;
  --journal-upload)
    (($# >= 2)) || die "--journal-upload needs the collector's URL (https://HOST:19532)"
    UPLOAD_URL=$2
    shift 2
    ;;
  --journal-upload=*)
    UPLOAD_URL=${1#--journal-upload=}
    shift
    ;;
  --wake-word)
    WAKE_WORD=yes
    shift
    ;;
  --no-wake-word)
    WAKE_WORD=no
    shift
    ;;
  --uninstall)
    MODE=uninstall
    shift
    ;;
  --purge)
    MODE=uninstall
    PURGE=1
    shift
    ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    usage >&2
    die "unknown argument: $1"
    ;;
  esac
done

STAGING=0
if [[ -n $ROOT ]]; then
  STAGING=1
  mkdir -p -- "$ROOT"
  ROOT=$(cd -- "$ROOT" && pwd)
  [[ $ROOT != / ]] || die "--root / is not staging; run without --root"
fi
if [[ -n $UPLOAD_URL ]]; then
  [[ $MODE == install ]] || die "--journal-upload installs; --uninstall removes the upload set-up by itself"
  # systemd-journal-upload takes http(s)://HOST[:PORT][/PATH]; whitespace would break the config line.
  [[ $UPLOAD_URL =~ ^https?://[^[:space:]/]+(/[^[:space:]]*)?$ ]] ||
    die "--journal-upload: not an http:// or https:// URL: $UPLOAD_URL"
fi
[[ -z $WAKE_WORD || $MODE == install ]] || die "--wake-word and --no-wake-word go with an install, not --uninstall"
readonly ROOT STAGING MODE PURGE UPLOAD_URL
readonly APP_DIR=$ROOT/opt/$NAME
readonly CONF_DIR=$ROOT/etc/$NAME
readonly STATE_DIR=$ROOT/var/lib/$NAME
readonly UNIT_DIR=$ROOT/etc/systemd/system
readonly UNIT_FILE=$UNIT_DIR/$NAME.service
readonly STAMP=$APP_DIR/.npm-ci-stamp
# journalctl reads catalogs from /usr/local/lib/systemd/catalog and /usr/lib/systemd/catalog
# (journalctl(1) --update-catalog); /usr/local is the place for what is not a Debian package.
readonly CATALOG_DIR=$ROOT/usr/local/lib/systemd/catalog
readonly CATALOG_FILE=$CATALOG_DIR/$NAME.catalog
readonly CATALOG_DB=$ROOT/var/lib/systemd/catalog/database
# One id of the catalog (MessageId.Ready): present in the compiled database once it is installed.
readonly CATALOG_PROBE_ID=9cf4e8bba7114215806fced2b996dda1
# The upload side of the journal's own shipping path (systemd-journal-upload(8)). A drop-in, as the
# package's /etc/systemd/journal-upload.conf itself recommends: that file is a dpkg conffile (an
# edited one means a prompt at package upgrades), and --uninstall then removes exactly ours.
readonly UPLOAD_PACKAGE=systemd-journal-remote
readonly UPLOAD_SERVICE=systemd-journal-upload.service
readonly UPLOAD_CONF_DIR=$ROOT/etc/systemd/journal-upload.conf.d
readonly UPLOAD_CONF=$UPLOAD_CONF_DIR/50-$NAME.conf

CHANGES=0
changed() { CHANGES=$((CHANGES + 1)); }

# A host command: run it for real, or only log it in --root mode.
host() {
  if ((STAGING)); then
    log "(--root) would run: $*"
  else
    log "run: $*"
    "$@"
  fi
}

# Copy one file unless the target already has the same bytes (so its mtime stays); fix its mode.
# Returns 0 when it changed something, 1 when the target was already current.
put_file() {
  local src=$1 dst=$2 mode=$3
  if [[ -f $dst && ! -L $dst ]] && cmp -s -- "$src" "$dst"; then
    if [[ $(stat -c '%04a' -- "$dst") != "$mode" ]]; then
      chmod -- "$mode" "$dst"
      return 0
    fi
    return 1
  fi
  install -D -m "$mode" -- "$src" "$dst"
  return 0
}

# Make DST a copy of the directory SRC (files 0644, dirs 0755): copy what differs, delete what
# SRC no longer has. One log line for the whole tree.
sync_tree() {
  local src=$1 dst=$2 rel n_put=0 n_del=0
  while IFS= read -r -d '' rel; do
    if put_file "$src/$rel" "$dst/$rel" 0644; then n_put=$((n_put + 1)); fi
  done < <(cd -- "$src" && find . -type f -printf '%P\0' | sort -z)
  if [[ -d $dst ]]; then
    while IFS= read -r -d '' rel; do
      if [[ ! -f $src/$rel ]]; then
        rm -f -- "${dst:?}/$rel"
        n_del=$((n_del + 1))
      fi
    done < <(cd -- "$dst" && find . \( -type f -o -type l \) -printf '%P\0')
    while IFS= read -r -d '' rel; do
      rmdir -- "$rel"
    done < <(find "$dst" -mindepth 1 -depth -type d -empty -print0)
  fi
  if ((n_put + n_del)); then
    log "updated $dst: $n_put file(s) written, $n_del stale file(s) removed"
    changed
  else
    log "unchanged: $dst"
  fi
}

make_dir() {
  local dir=$1 mode=$2
  if [[ -d $dir ]]; then
    if [[ $(stat -c '%04a' -- "$dir") != "$mode" ]]; then
      chmod -- "$mode" "$dir"
      log "chmod $mode $dir"
      changed
    fi
  else
    install -d -m "$mode" -- "$dir"
    log "created $dir"
    changed
  fi
}

check_node() {
  local node=/usr/bin/node major
  if ((STAGING)); then
    node=$(command -v node || true)
  fi
  local hint="speakerd needs Node.js >= 20 at /usr/bin/node (the unit's ExecStart). Debian trixie: sudo apt-get install nodejs npm. Bookworm (Raspberry Pi OS 12): Node 20 from NodeSource: curl -fsSL https://deb.nodesource.com/setup_20.x | sudo bash - && sudo apt-get install -y nodejs"
  [[ -n $node && -x $node ]] || die "Node.js not found. $hint"
  major=$("$node" -p 'process.versions.node.split(".")[0]')
  ((major >= 20)) || die "found Node.js $("$node" --version) at $node. $hint"
  log "ok: Node.js $("$node" --version) at $node"
}

# installed PKG: whether dpkg has PKG installed.
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

# apt_install PKG...: install the given (missing) packages; staging only says it would.
apt_install() {
  if ((STAGING)); then
    log "(--root) would run: apt-get install -y --no-install-recommends $*"
    return
  fi
  log "run: apt-get install -y --no-install-recommends $*"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
  changed
}

apt_packages() {
  local p missing=()
  for p in "${APT_PACKAGES[@]}"; do
    installed "$p" || missing+=("$p")
  done
  # Debian's own nodejs comes without npm (NodeSource's includes it).
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if ((${#missing[@]} == 0)); then
    log "ok: Debian packages present (${APT_PACKAGES[*]})"
    return
  fi
  apt_install "${missing[@]}"
}

# The system user; it joins audio, gpio and spi when those groups exist. The unit's
# SupplementaryGroups=audio gpio spi fails the start (216/GROUP) if a group is missing, so gpio
# and spi are created on boards whose OS has none (Raspberry Pi OS has both, with udev rules for
# sysfs GPIO and /dev/spidev*: the APA102 LEDs of the voice HATs, hardware.md §6.1).
service_user() {
  local g groups=()
  for g in gpio spi; do
    if ! getent group "$g" >/dev/null; then
      host groupadd --system "$g"
      ((STAGING)) || changed
    fi
  done
  for g in audio gpio spi; do
    if getent group "$g" >/dev/null || ((STAGING)); then groups+=("$g"); fi
  done
  local list
  list=$(
    IFS=,
    echo "${groups[*]}"
  )
  if ! getent passwd "$NAME" >/dev/null; then
    host useradd --system --user-group --home-dir "/var/lib/$NAME" --no-create-home \
      --shell /usr/sbin/nologin --groups "$list" "$NAME"
    ((STAGING)) || changed
    return
  fi
  for g in "${groups[@]}"; do
    if ! id -nG "$NAME" | tr ' ' '\n' | grep -qx "$g"; then
      host usermod --append --groups "$g" "$NAME"
      ((STAGING)) || changed
    fi
  done
  log "ok: user $NAME exists ($(id -nG "$NAME"))"
}

install_app() {
  local f
  [[ -f $SRC/dist/src/main.js ]] || die "$SRC/dist/src/main.js is missing: build first (cd $SRC && npm ci && npm run build)"
  make_dir "$ROOT/opt" 0755
  make_dir "$APP_DIR" 0755
  # .npmrc: onnxruntime-node's postinstall would otherwise fetch CUDA files from a host a device
  # may not reach, fail, and npm would silently drop the optional dependency (the wake word).
  for f in package.json package-lock.json .npmrc README.md hardware.md; do
    if put_file "$SRC/$f" "$APP_DIR/$f" 0644; then
      log "installed $APP_DIR/$f"
      changed
    fi
  done
  # What `run` needs at runtime: the compiled daemon (not tests or benches) and its assets.
  sync_tree "$SRC/dist/src" "$APP_DIR/dist/src"
  sync_tree "$SRC/assets" "$APP_DIR/assets"

  # Production dependencies (native: onoff/epoll, sd-notify). Again only when the lock file, the
  # Node ABI (process.versions.modules: native addons) or the wake-word choice changed since the
  # last npm ci. The stamp notes the choice only when it is "no", so the default leaves an older
  # stamp as it was.
  local want last="" wake=$WAKE_WORD
  [[ -f $STAMP ]] && last=$(<"$STAMP")
  if [[ -z $wake ]]; then
    wake=yes
    [[ $last == *" wakeword=no" ]] && wake=no
  fi
  local base
  base="lock=$(sha256sum <"$APP_DIR/package-lock.json" | cut -d' ' -f1) abi=$(node -p process.versions.modules)"
  want=$base
  [[ $wake == no ]] && want+=" wakeword=no"
  if [[ -d $APP_DIR/node_modules && $last == "$want" ]]; then
    log "unchanged: $APP_DIR/node_modules (package-lock.json, Node ABI and wake word as at the last npm ci)"
  else
    # Only the choice changed to "no": the same tree without onnxruntime-node, no npm ci needed.
    if [[ ! -d $APP_DIR/node_modules || $last != "$base" || $wake != no ]]; then
      log "run: npm ci --omit=dev in $APP_DIR"
      (cd -- "$APP_DIR" && npm ci --omit=dev --prefer-offline --no-audit --no-fund --loglevel=error)
    fi
    if [[ $wake == no ]]; then
      # onnxruntime-node and the packages only it needs; package.json and the lock stay as shipped.
      log "run: npm uninstall --no-save onnxruntime-node in $APP_DIR (--no-wake-word)"
      (cd -- "$APP_DIR" && npm uninstall --no-save --omit=dev --offline --no-audit --no-fund --loglevel=error onnxruntime-node)
    fi
    printf '%s\n' "$want" >"$STAMP"
    changed
  fi
  prune_ort
}

# onnxruntime-node ships bin/napi-v<N>/<platform>/<arch>/ for linux x64 and arm64, darwin arm64,
# win32 x64 and arm64, and loads only process.platform/process.arch's (its dist/binding.js). The
# others are dead weight on an SD card: removed. Where none is this one (32-bit ARM: linux/arm) all
# go, and the package's JavaScript stays, so check-config and doctor say "does not load on
# linux/arm: use a 64-bit OS" rather than "not installed".
prune_ort() {
  local bin=$APP_DIR/node_modules/onnxruntime-node/bin here dir n=0 bytes=0 size
  [[ -d $bin ]] || return 0
  here=$(node -p 'process.platform + "/" + process.arch')
  while IFS= read -r -d '' dir; do
    [[ ${dir#"$bin"/napi-v*/} == "$here" ]] && continue
    size=$(du -sb -- "$dir" | cut -f1)
    rm -rf -- "${dir:?}"
    n=$((n + 1))
    bytes=$((bytes + size))
  done < <(find "$bin" -mindepth 3 -maxdepth 3 -type d -path "$bin/napi-v*/*/*" -print0 | sort -z)
  find "$bin" -mindepth 1 -depth -type d -empty -delete
  if ((n)); then
    log "removed $n onnxruntime-node binaries for other platforms ($((bytes / 1048576)) MB; kept $here's, if it ships one)"
    changed
  fi
}

install_config() {
  local cfg=$CONF_DIR/config.json
  make_dir "$ROOT/etc" 0755
  make_dir "$CONF_DIR" 0755
  if [[ -e $cfg ]]; then
    log "kept existing $cfg"
    return
  fi
  if ((STAGING)); then
    install -m 0640 -- "$SRC/deploy/config.example.json" "$cfg"
    log "created $cfg from deploy/config.example.json ((--root) would chgrp $NAME)"
  else
    install -m 0640 -o root -g "$NAME" -- "$SRC/deploy/config.example.json" "$cfg"
    log "created $cfg (root:$NAME 0640) from deploy/config.example.json: edit server.websocketUrl"
  fi
  changed
}

install_unit() {
  make_dir "$ROOT/etc/systemd" 0755
  make_dir "$UNIT_DIR" 0755
  if put_file "$SRC/systemd/$NAME.service" "$UNIT_FILE" 0644; then
    log "installed $UNIT_FILE"
    changed
    host systemctl daemon-reload
  fi
  # Restarted when this run changed anything (new code, unit or dependencies).
  local restart=0
  if ((CHANGES > 0)); then restart=1; fi
  enable_and_run "$NAME" "$restart" "check: node $APP_DIR/dist/src/main.js check-config"
}

# enable_and_run UNIT RESTART [HINT]: enable UNIT, start it when it is not running, restart it when
# RESTART is 1 (its files changed in this run); a unit that fails to start is a warning with HINT,
# not a failed install (the device may lack its sound card or config yet).
enable_and_run() {
  local unit=$1 restart=$2 hint=${3:-}
  if ((STAGING)); then
    log "(--root) would run: systemctl enable $unit; systemctl start (or restart after changes) $unit"
    return
  fi
  if ! systemctl is-enabled --quiet "$unit"; then
    host systemctl enable "$unit"
    changed
  fi
  local action=""
  if ! systemctl is-active --quiet "$unit"; then
    action=start
  elif ((restart)); then
    action=restart
  fi
  if [[ -n $action ]]; then
    log "run: systemctl $action $unit"
    if ! systemctl "$action" "$unit"; then
      log "warning: $unit did not $action; see: journalctl -u $unit -e${hint:+; $hint}"
    fi
    changed
  else
    log "ok: $unit is enabled and running"
  fi
}

# journalctl for this host, or for the staging tree (--root: only DIR is read and written).
journalctl_here() {
  if ((STAGING)); then
    journalctl --root="$ROOT" "$@"
  else
    journalctl "$@"
  fi
}

# Compile the catalogs into the binary database journalctl -x reads (catalog files alone do nothing).
update_catalog() {
  if ! command -v journalctl >/dev/null 2>&1; then
    log "warning: journalctl not found: the catalog is installed but not compiled"
    return
  fi
  if ((STAGING)); then
    log "run: journalctl --root=$ROOT --update-catalog"
  else
    log "run: journalctl --update-catalog"
  fi
  journalctl_here --update-catalog
  changed
}

# The message catalog: `journalctl -x` explains every speakerd entry with a MESSAGE_ID.
install_catalog() {
  local fresh=0
  if [[ ! -d $CATALOG_DIR ]]; then
    install -d -m 0755 -- "$CATALOG_DIR"
    log "created $CATALOG_DIR"
    changed
  fi
  if put_file "$SRC/systemd/$NAME.catalog" "$CATALOG_FILE" 0644; then
    log "installed $CATALOG_FILE"
    changed
    fresh=1
  fi
  # Compiled again when the file changed, or when a previous run copied it but did not compile it.
  if ((fresh)) || ! command -v journalctl >/dev/null 2>&1 ||
    [[ -z $(journalctl_here --list-catalog "$CATALOG_PROBE_ID" 2>/dev/null) ]]; then
    update_catalog
  else
    log "unchanged: $CATALOG_FILE (compiled)"
  fi
}

uninstall_catalog() {
  [[ -e $CATALOG_FILE ]] || return 0
  rm -f -- "$CATALOG_FILE"
  log "removed $CATALOG_FILE"
  changed
  # journalctl --update-catalog leaves the database as it is when no catalog is left to compile
  # ("No items in catalog", systemd catalog.c), which only a staging tree can reach (a host has
  # systemd's own catalog): there the database lists nothing but what was just removed.
  if ((STAGING)) && [[ -z $(find "$ROOT/usr/local/lib/systemd/catalog" "$ROOT/usr/lib/systemd/catalog" \
    -name '*.catalog' -print -quit 2>/dev/null) ]]; then
    rm -f -- "$CATALOG_DB"
    log "removed $CATALOG_DB (no catalog left in $ROOT)"
    return
  fi
  update_catalog
}

upload_conf() {
  local url=$1
  printf '%s\n' \
    "# Written by speakerd's deploy/install.sh --journal-upload (deploy/collector.md); removed by" \
    "# install.sh --uninstall. systemd-journal-upload.service sends this device's journal to URL." \
    "[Upload]" \
    "URL=$url"
  if [[ $url == http://* ]]; then
    printf '%s\n' \
      "# Plain http: entries travel unencrypted and the collector takes them from anyone: a lab only." \
      "# A fleet uses https:// and the certificates below."
  fi
  printf '%s\n' \
    "" \
    "# TLS (https:// URLs, the collector runs systemd-journal-remote --listen-https): this device" \
    "# proves itself with its key and certificate, signed by the admin's CA, and checks the" \
    "# collector's certificate against TrustedCertificateFile. These are the defaults; put the" \
    "# admin's files there, or uncomment and point these lines at them. The service runs as the" \
    "# dynamic user systemd-journal-upload: the key must be readable by it." \
    "#ServerKeyFile=/etc/ssl/private/journal-upload.pem" \
    "#ServerCertificateFile=/etc/ssl/certs/journal-upload.pem" \
    "#TrustedCertificateFile=/etc/ssl/ca/trusted.pem"
}

# --journal-upload URL: the package, the drop-in, the service enabled (restarted when it changed).
install_journal_upload() {
  if [[ -z $UPLOAD_URL ]]; then
    if [[ -e $UPLOAD_CONF ]]; then log "kept $UPLOAD_CONF (journal upload; --uninstall removes it)"; fi
    return 0
  fi
  if installed "$UPLOAD_PACKAGE"; then
    log "ok: Debian package $UPLOAD_PACKAGE present (systemd-journal-upload)"
  else
    apt_install "$UPLOAD_PACKAGE"
  fi
  if [[ $UPLOAD_URL == http://* ]]; then
    log "warning: $UPLOAD_URL is plain http: journal entries travel unencrypted and unauthenticated; a lab only (deploy/collector.md: https with certificates)"
  else
    local f
    for f in /etc/ssl/private/journal-upload.pem /etc/ssl/certs/journal-upload.pem /etc/ssl/ca/trusted.pem; do
      [[ -e $ROOT$f ]] || log "note: $ROOT$f is missing: an https upload needs the admin's key, certificate and CA there (or the paths in $UPLOAD_CONF)"
    done
  fi
  make_dir "$ROOT/etc/systemd" 0755
  make_dir "$UPLOAD_CONF_DIR" 0755
  local tmp fresh=0
  tmp=$(mktemp)
  upload_conf "$UPLOAD_URL" >"$tmp"
  if put_file "$tmp" "$UPLOAD_CONF" 0644; then
    log "wrote $UPLOAD_CONF (URL=$UPLOAD_URL)"
    changed
    fresh=1
  else
    log "unchanged: $UPLOAD_CONF"
  fi
  rm -f -- "$tmp"
  enable_and_run "$UPLOAD_SERVICE" "$fresh"
}

# Only what --journal-upload set up: the drop-in and the service it enabled. The package stays
# (other units may use systemd-journal-remote; `apt-get remove` it by hand if not).
uninstall_journal_upload() {
  [[ -e $UPLOAD_CONF ]] || return 0
  if ((STAGING)); then
    log "(--root) would run: systemctl disable --now $UPLOAD_SERVICE"
  else
    host systemctl disable --now "$UPLOAD_SERVICE" ||
      log "warning: could not disable $UPLOAD_SERVICE (see: systemctl status $UPLOAD_SERVICE)"
  fi
  rm -f -- "$UPLOAD_CONF"
  log "removed $UPLOAD_CONF"
  rmdir --ignore-fail-on-non-empty -- "$UPLOAD_CONF_DIR"
  changed
}

do_install() {
  [[ -f $SRC/package-lock.json && -f $SRC/systemd/$NAME.service && -f $SRC/systemd/$NAME.catalog ]] || die "$SRC is not a speakerd source tree"
  check_node
  apt_packages
  service_user
  install_app
  install_config
  install_catalog
  install_unit
  install_journal_upload
}

do_uninstall() {
  if ((STAGING)); then
    log "(--root) would run: systemctl disable --now $NAME"
  elif [[ -f $UNIT_FILE ]] || systemctl cat "$NAME" >/dev/null 2>&1; then
    host systemctl disable --now "$NAME" || true
    systemctl reset-failed "$NAME" 2>/dev/null || true
    changed
  fi
  if [[ -e $UNIT_FILE ]]; then
    rm -f -- "$UNIT_FILE"
    log "removed $UNIT_FILE"
    changed
    host systemctl daemon-reload
  fi
  uninstall_catalog
  uninstall_journal_upload
  if [[ -e $APP_DIR ]]; then
    rm -rf -- "${APP_DIR:?}"
    log "removed $APP_DIR"
    changed
  fi
  if ((!PURGE)); then
    log "kept $CONF_DIR and $STATE_DIR (--purge removes them and the user)"
    return
  fi
  local d
  for d in "$CONF_DIR" "$STATE_DIR"; do
    if [[ -e $d ]]; then
      rm -rf -- "${d:?}"
      log "removed $d"
      changed
    fi
  done
  if getent passwd "$NAME" >/dev/null; then
    host userdel "$NAME"
    ((STAGING)) || changed
  fi
}

if ((!STAGING)) && ((EUID != 0)); then
  die "run as root (sudo $0 ...), or stage into a directory with --root DIR"
fi
((STAGING)) && log "staging into $ROOT"
if [[ $MODE == install ]]; then do_install; else do_uninstall; fi
if ((CHANGES == 0)); then
  log "nothing changed"
else
  log "done: $CHANGES change(s)"
fi
