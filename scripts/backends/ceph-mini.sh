#!/usr/bin/env bash
# ceph-mini.sh — throwaway single-node Ceph (Pacific 16.2, Debian 12) on 127.0.0.1 for integration tests:
# 1 mon + 1 OSD (memstore by default) + radosgw (S3 + Swift API on one port), cephx auth, pool for RBD.
#
#   bash ceph-mini.sh start   # wipe $CEPH_MINI_DIR, start everything, wait until RBD/S3/Swift work (~5 s)
#   bash ceph-mini.sh env     # `export ...` lines:  eval "$(bash ceph-mini.sh env)"
#   bash ceph-mini.sh status  # daemon PIDs + `ceph -s`
#   bash ceph-mini.sh stop    # SIGKILL exactly the daemons recorded by `start` (throwaway data)
#   bash ceph-mini.sh rgw-stop | rgw-start   # kill / restart radosgw alone (fault-injection tests)
#   bash ceph-mini.sh osd-pause | osd-resume # freeze / thaw the OSD (SIGSTOP/SIGCONT): a stuck cluster
#                                            # for RBD fault tests; memstore data survives, a kill would not
#
# imago's copy of the shared recipe (shared/recipes/ceph-mini.sh), plus rgw-stop/rgw-start and
# millisecond start timings. test/integration/store-s3.test.ts starts it when S3_ENDPOINT is unset.
#
# Everything (ceph.conf, keyrings, mon store, OSD, logs, PID files, admin sockets) lives under
# $CEPH_MINI_DIR (default /tmp/ceph-mini; keep it short: admin-socket paths must stay < 108 chars).
# Nothing reads or writes /etc/ceph or /var/lib/ceph: every tool gets -c $CEPH_MINI_DIR/ceph.conf
# (or CEPH_CONF from `env`), and that conf names the admin keyring in its [client] section.
# Debian 12: apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common s3cmd python3-swiftclient
#
# Env knobs: CEPH_MINI_DIR, CEPH_MINI_MON_PORT (3300 = msgr2; msgr1 uses port+1), CEPH_MINI_RGW_PORT (7480),
#   CEPH_MINI_OBJECTSTORE (memstore | bluestore = sparse file under the dir, slower start, bounded RAM),
#   CEPH_MINI_OSD_BYTES (OSD capacity, default 8 GiB; memstore uses ~2x the data written in RAM),
#   CEPH_MINI_MGR (0 | 1: start a ceph-mgr; only needed for `ceph osd df`, pg stats, `rbd trash purge
#   schedule`, `rbd perf` and other mgr commands — those HANG without it), CEPH_MINI_POOL (images),
#   CEPH_MINI_RGW (1 | 0: skip radosgw when only RBD is needed),
#   CEPH_MINI_SELFTEST (1 | 0), CEPH_MINI_TIMEOUT (seconds per wait step, 120),
#   CEPH_MINI_OSD_PORT (first of the 8 ports the OSD binds, 6800 = Ceph's default range; set it with
#   CEPH_MINI_MON_PORT to run a second cluster beside the shared one).
# RBD: a cephx user client.glance (mon 'profile rbd', osd 'profile rbd pool=<pool>') with its keyring in
# $DIR/ceph.client.glance.keyring, as a Glance deployment has (`env` exports RBD_USER, RBD_KEYRING).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
# `env` exports these for clients; daemons started from such a shell would pick them up
# (CEPH_KEYRING makes radosgw present the admin key as client.rgw.gw and fail cephx).
unset CEPH_KEYRING CEPH_CLIENT_ID CEPH_ARGS
STARTED=0 # set once `start` has wiped the dir, so die() shows only this run's logs

DIR=${CEPH_MINI_DIR:-/tmp/ceph-mini}
MON_PORT=${CEPH_MINI_MON_PORT:-3300}
MON_PORT_V1=$((MON_PORT + 1))
RGW_PORT=${CEPH_MINI_RGW_PORT:-7480}
OSD_BYTES=${CEPH_MINI_OSD_BYTES:-8589934592}
OBJECTSTORE=${CEPH_MINI_OBJECTSTORE:-memstore}
WITH_MGR=${CEPH_MINI_MGR:-0}
WITH_RGW=${CEPH_MINI_RGW:-1}
SELFTEST=${CEPH_MINI_SELFTEST:-1}
POOL=${CEPH_MINI_POOL:-images}
TIMEOUT=${CEPH_MINI_TIMEOUT:-120}
OSD_PORT=${CEPH_MINI_OSD_PORT:-6800}
CONF=$DIR/ceph.conf
ADMIN_KEYRING=$DIR/ceph.client.admin.keyring
GLANCE_KEYRING=$DIR/ceph.client.glance.keyring
# Fixed throwaway credentials (loopback-only test cluster).
S3_USER=tester
S3_ACCESS=CEPHMINIACCESSKEY000
S3_SECRET=cephminisecretkey0000000000000000000000
SWIFT_SUBUSER=tester:swift
SWIFT_KEY=cephminiswiftkey

log() { printf '[ceph-mini %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
  log "ERROR: $*"
  if [ "$STARTED" = 1 ] && [ -d "$DIR/log" ]; then # CI machines vanish: show this run's log tails here
    for f in "$DIR"/log/*; do [ -s "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }; done
  fi
  exit 1
}
# Ceph CLIs, always pointed at our conf (the admin keyring is set in ceph.conf [client]).
c_ceph() { timeout 60 ceph -c "$CONF" --connect-timeout 20 "$@"; }
c_rbd() { timeout 120 rbd -c "$CONF" "$@"; }
c_rgwadmin() { timeout 120 radosgw-admin -c "$CONF" "$@"; }

pid_of() { pidfile_pid "$DIR/run/$1.pid"; }
# dead <daemon>: its PID file exists but the process is gone (daemons write it right after forking)
dead() { local p; p=$(pid_of "$1" 2>/dev/null) && [ -n "$p" ] && ! running "$p"; }

# wait_for <seconds> <description> <daemon-or-"-"> <command...>: poll until the command succeeds;
# fail fast if the named daemon died.
wait_for() {
  local t=$1 what=$2 daemon=$3; shift 3
  local begin=$SECONDS end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    if [ "$daemon" != - ]; then
      dead "$daemon" && die "$daemon died while waiting for $what"
      # a daemon that fails right after forking never writes its PID file
      [ -s "$DIR/run/$daemon.pid" ] || [ $((SECONDS - begin)) -lt 15 ] \
        || die "$daemon did not start (no PID file after 15 s) while waiting for $what"
    fi
    [ $SECONDS -lt $end ] || die "timeout (${t}s) waiting for $what"
    sleep 0.25
  done
}

write_conf() {
  cat >"$CONF" <<EOF
# generated by ceph-mini.sh — single-node throwaway test cluster, 127.0.0.1 only
[global]
fsid = $1
mon host = [v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_PORT_V1]
mon initial members = a
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
run dir = $DIR/run
pid file = $DIR/run/\$name.pid
log file = $DIR/log/\$name.log
crash dir = $DIR/crash
# one OSD: single replica, few PGs (radosgw adds 6-7 pools), no autoscaler (no mgr by default)
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon max pg per osd = 1000
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim allowed = false
# a fullish CI disk must not stop the mon (default: shut down below 5% free)
mon data avail warn = 2
mon data avail crit = 1
# A frozen OSD (osd-pause) longer than its PGs' read lease (0.8 x osd heartbeat grace = 16 s)
# comes back with PGs that stay "waiting for readable" for good (Pacific 16.2.15, one OSD, seen
# here): make the lease longer than any pause the fault tests make.
osd pool default read lease ratio = 10
# commit map changes at once (default batches them for up to 1 s; start-up does ~20 of them: 26 s -> 5 s)
paxos propose interval = 0.05

[mon]
mon data = $DIR/mon/\$cluster-\$id
keyring = $DIR/mon/keyring

[mgr]
mgr data = $DIR/mgr/\$cluster-\$id
keyring = $DIR/mgr/\$cluster-\$id/keyring

[osd]
osd data = $DIR/osd/\$cluster-\$id
keyring = $DIR/osd/\$cluster-\$id/keyring
osd objectstore = $OBJECTSTORE
memstore device bytes = $OSD_BYTES
# bluestore variant: a sparse file (no loop device); must not be named "block" inside osd data
bluestore block path = $DIR/osd/\$cluster-\$id.block
bluestore block create = true
bluestore block size = $OSD_BYTES
bluestore fsck on mount = false
osd memory target = 1073741824
osd crush initial weight = 1
ms bind port min = $OSD_PORT
ms bind port max = $((OSD_PORT + 7))
osd op num shards = 2
osd op num threads per shard = 2
# a SIGKILLed radosgw (rgw-stop) keeps its cache watches until they time out, and every bucket
# create/delete waits for them: 30 s by default
osd client watch timeout = 5

[client]
keyring = $ADMIN_KEYRING
# fail in 15 s instead of hanging 300 s when the cluster is down (rbd/rados CLIs, librados apps)
client mount timeout = 15

[client.glance]
keyring = $GLANCE_KEYRING

[client.rgw.gw]
keyring = $DIR/rgw/keyring
rgw data = $DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw thread pool size = 32
# free deleted and aborted data within seconds (default: after 2 h), or repeated test and bench
# runs fill the OSD and radosgw then blocks every write
rgw gc obj min wait = 5
rgw gc processor period = 5
EOF
}

# The cluster is throwaway (start wipes it), so stop = SIGKILL of exactly the PIDs we recorded:
# instant, and immune to the 2-15 s shutdown waits of radosgw/OSD when their peers exit first.
cmd_stop() {
  [ -d "$DIR/run" ] || return 0
  local n p pids=""
  for n in client.rgw.gw osd.0 mgr.x mon.a; do
    p=$(pid_of "$n" 2>/dev/null) || continue
    # only signal it if it is still the ceph daemon we started (guards against PID reuse)
    if [ -n "$p" ] && running "$p" && grep -qE 'ceph-|radosgw' "/proc/$p/cmdline" 2>/dev/null; then
      kill -KILL "$p" 2>/dev/null || true; pids="$pids $p"
    fi
    rm -f "$DIR/run/$n.pid"
  done
  for _ in $(seq 1 50); do
    local left=""
    for p in $pids; do running "$p" && left="$left $p"; done
    pids=$left; [ -z "$pids" ] && break
    sleep 0.1
  done
  [ -z "$pids" ] || log "WARNING: still running:$pids"
  log "stopped"
}

start_mon() {
  mkdir -p "$DIR/mon/ceph-a"
  ceph-authtool --create-keyring "$DIR/mon/keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-authtool --create-keyring "$ADMIN_KEYRING" --gen-key -n client.admin \
    --cap mon 'allow *' --cap osd 'allow *' --cap mgr 'allow *' --cap mds 'allow *' >/dev/null
  ceph-authtool "$DIR/mon/keyring" --import-keyring "$ADMIN_KEYRING" >/dev/null
  monmaptool --create --fsid "$1" --addv a "[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_PORT_V1]" \
    "$DIR/monmap" >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/mon/keyring" \
    >>"$DIR/log/mkfs.log" 2>&1 || die "ceph-mon --mkfs failed"
  # daemons fork into the background themselves and write $DIR/run/<name>.pid
  (closefds_exec ceph-mon -c "$CONF" -i a) </dev/null >>"$DIR/log/daemons.out" 2>&1 || die "ceph-mon failed to start"
  wait_for "$TIMEOUT" "mon quorum" mon.a c_ceph mon stat
}

start_mgr() {
  mkdir -p "$DIR/mgr/ceph-x"
  c_ceph auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
    -o "$DIR/mgr/ceph-x/keyring" >/dev/null 2>&1 || die "mgr key creation failed"
  (closefds_exec ceph-mgr -c "$CONF" -i x) </dev/null >>"$DIR/log/daemons.out" 2>&1 || die "ceph-mgr failed to start"
  wait_for "$TIMEOUT" "active mgr" mgr.x sh -c "timeout 20 ceph -c '$CONF' mgr stat | grep -q '\"available\": true'"
}

start_osd() {
  local uuid secret id
  uuid=$(cat /proc/sys/kernel/random/uuid)
  secret=$(ceph-authtool --gen-print-key)
  # registers osd.0 in the osdmap plus its cephx key with the standard OSD caps
  id=$(echo "{\"cephx_secret\": \"$secret\"}" | c_ceph osd new "$uuid" -i - 2>>"$DIR/log/mkfs.log") \
    || die "ceph osd new failed"
  [ "$id" = 0 ] || die "unexpected osd id '$id'"
  mkdir -p "$DIR/osd/ceph-0"
  ceph-authtool --create-keyring "$DIR/osd/ceph-0/keyring" -n osd.0 --add-key "$secret" >/dev/null
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$uuid" >>"$DIR/log/mkfs.log" 2>&1 || die "ceph-osd --mkfs failed"
  (closefds_exec ceph-osd -c "$CONF" -i 0) </dev/null >>"$DIR/log/daemons.out" 2>&1 || die "ceph-osd failed to start"
  wait_for "$TIMEOUT" "osd.0 up" osd.0 sh -c "timeout 20 ceph -c '$CONF' osd dump | grep -q '^osd.0 up'"
}

create_pool() {
  c_ceph osd pool create "$POOL" 8 8 >/dev/null 2>&1 || die "pool create $POOL failed"
  c_ceph osd pool application enable "$POOL" rbd >/dev/null 2>&1 || die "application enable failed"
  # rbd pool init writes the rbd_info object, so it returns only once the PGs are active
  timeout "$TIMEOUT" rbd -c "$CONF" pool init "$POOL" || die "rbd pool init $POOL failed"
  # the user a Glance deployment gives its rbd store (Ceph's "Block Devices and OpenStack" guide)
  c_ceph auth get-or-create client.glance mon 'profile rbd' osd "profile rbd pool=$POOL" \
    -o "$GLANCE_KEYRING" >/dev/null 2>&1 || die "client.glance key creation failed"
}

start_rgw() {
  mkdir -p "$DIR/rgw"
  c_ceph auth get-or-create client.rgw.gw mon 'allow rw' osd 'allow rwx' mgr 'allow rw' \
    -o "$DIR/rgw/keyring" >/dev/null 2>&1 || die "rgw key creation failed"
  (closefds_exec radosgw -c "$CONF" -n client.rgw.gw) </dev/null >>"$DIR/log/daemons.out" 2>&1 || die "radosgw failed to start"
  # anonymous GET / answers 200 (empty bucket list) once beast listens and the zone/pools exist
  wait_for "$TIMEOUT" "radosgw on 127.0.0.1:$RGW_PORT" client.rgw.gw curl -fsS -o /dev/null "http://127.0.0.1:$RGW_PORT/"
  { c_rgwadmin user create --uid="$S3_USER" --display-name="ceph-mini tester" \
      --access-key="$S3_ACCESS" --secret-key="$S3_SECRET" \
    && c_rgwadmin subuser create --uid="$S3_USER" --subuser="$SWIFT_SUBUSER" --access=full \
    && c_rgwadmin key create --subuser="$SWIFT_SUBUSER" --key-type=swift --secret-key="$SWIFT_KEY"
  } >>"$DIR/log/radosgw-admin.out" 2>&1 || die "radosgw-admin user setup failed"
  cat >"$DIR/s3cfg" <<EOF
[default]
access_key = $S3_ACCESS
secret_key = $S3_SECRET
host_base = 127.0.0.1:$RGW_PORT
host_bucket = 127.0.0.1:$RGW_PORT
use_https = False
signature_v2 = False
EOF
}

selftest() { # end-to-end check of RBD, S3 and Swift; `start` fails if any is broken
  local tmp=$DIR/selftest
  mkdir -p "$tmp"
  head -c 1048576 /dev/urandom >"$tmp/in"
  { c_rbd create --size 16 "$POOL/ceph-mini-selftest" && c_rbd rm --no-progress "$POOL/ceph-mini-selftest"
  } >/dev/null 2>&1 || die "selftest: rbd create/rm failed"
  [ "$WITH_RGW" = 1 ] || { rm -rf "$tmp"; return 0; }
  if command -v s3cmd >/dev/null; then
    local s3="timeout 60 s3cmd -c $DIR/s3cfg --no-progress"
    { $s3 mb s3://ceph-mini-selftest && $s3 put "$tmp/in" s3://ceph-mini-selftest/o \
      && $s3 get --force s3://ceph-mini-selftest/o "$tmp/out" && cmp -s "$tmp/in" "$tmp/out" \
      && $s3 del s3://ceph-mini-selftest/o && $s3 rb s3://ceph-mini-selftest
    } >/dev/null 2>&1 || die "selftest: S3 put/get via s3cmd failed"
  else log "s3cmd not installed: S3 selftest skipped"; fi
  if command -v swift >/dev/null; then
    local sw="timeout 60 swift -A http://127.0.0.1:$RGW_PORT/auth/1.0 -U $SWIFT_SUBUSER -K $SWIFT_KEY"
    rm -f "$tmp/out"
    (cd "$tmp" && $sw upload ceph-mini-selftest in --object-name o && $sw download ceph-mini-selftest o -o out \
      && cmp -s in out && $sw delete ceph-mini-selftest) >/dev/null 2>&1 || die "selftest: Swift put/get failed"
  else log "swift CLI (python3-swiftclient) not installed: Swift selftest skipped"; fi
  rm -rf "$tmp"
}

# radosgw alone, for tests that need the S3 endpoint to die mid-request and come back.
cmd_rgw_stop() {
  local p
  p=$(pid_of client.rgw.gw 2>/dev/null) || die "radosgw is not running (no PID file under $DIR/run)"
  if [ -n "$p" ] && running "$p" && grep -q radosgw "/proc/$p/cmdline" 2>/dev/null; then
    kill -KILL "$p" 2>/dev/null || true
    for _ in $(seq 1 50); do running "$p" || break; sleep 0.1; done
  fi
  rm -f "$DIR/run/client.rgw.gw.pid"
  log "radosgw stopped"
}

cmd_rgw_start() {
  [ -f "$CONF" ] || die "no cluster under $DIR: run start first"
  local p
  if p=$(pid_of client.rgw.gw 2>/dev/null) && running "$p"; then log "radosgw already running (pid $p)"; return 0; fi
  (closefds_exec radosgw -c "$CONF" -n client.rgw.gw) </dev/null >>"$DIR/log/daemons.out" 2>&1 || die "radosgw failed to start"
  wait_for "$TIMEOUT" "radosgw on 127.0.0.1:$RGW_PORT" client.rgw.gw curl -fsS -o /dev/null "http://127.0.0.1:$RGW_PORT/"
  log "radosgw up on 127.0.0.1:$RGW_PORT"
}

# The OSD frozen (SIGSTOP), not killed: memstore would lose every object with the process, and a
# frozen OSD is what a client sees of a stuck cluster (ops wait until rados_osd_op_timeout).
cmd_osd_signal() {
  local p
  p=$(pid_of osd.0 2>/dev/null) || die "osd.0 is not running (no PID file under $DIR/run)"
  running "$p" && grep -q ceph-osd "/proc/$p/cmdline" 2>/dev/null || die "osd.0 (pid $p) is not running"
  kill "-$1" "$p"
  log "osd.0 $2"
}

now_ms() { date +%s%3N; }

cmd_start() {
  local t0=$SECONDS b p ms0; ms0=$(now_ms)
  for b in ceph ceph-mon ceph-osd ceph-authtool monmaptool rbd curl; do
    command -v "$b" >/dev/null || die "$b not found (apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common)"
  done
  case $OBJECTSTORE in memstore | bluestore) ;; *) die "CEPH_MINI_OBJECTSTORE must be memstore or bluestore" ;; esac
  [ "$WITH_RGW" != 1 ] || command -v radosgw >/dev/null || die "radosgw not found (apt-get install radosgw)"
  [ "$WITH_MGR" != 1 ] || command -v ceph-mgr >/dev/null || die "CEPH_MINI_MGR=1 needs ceph-mgr (apt-get install ceph-mgr)"
  cmd_stop 2>/dev/null || true
  rm -rf "$DIR"
  local ports="$MON_PORT $MON_PORT_V1"; [ "$WITH_RGW" = 1 ] && ports="$ports $RGW_PORT"
  [ "$OSD_PORT" = 6800 ] || ports="$ports $(seq "$OSD_PORT" $((OSD_PORT + 7)) | tr '\n' ' ')"
  for p in $ports; do
    port_in_use "$p" && die "127.0.0.1:$p is already in use (another cluster? set CEPH_MINI_MON_PORT / CEPH_MINI_RGW_PORT)"
  done
  mkdir -p "$DIR/log" "$DIR/run" "$DIR/crash"
  STARTED=1
  local fsid; fsid=$(cat /proc/sys/kernel/random/uuid)
  write_conf "$fsid"
  start_mon "$fsid";  log "mon up ($((SECONDS - t0))s)"
  if [ "$WITH_MGR" = 1 ]; then start_mgr; log "mgr up ($((SECONDS - t0))s)"; fi
  start_osd;          log "osd.0 ($OBJECTSTORE) up ($((SECONDS - t0))s)"
  create_pool;        log "pool $POOL ready ($((SECONDS - t0))s)"
  if [ "$WITH_RGW" = 1 ]; then start_rgw; log "radosgw up on 127.0.0.1:$RGW_PORT, users created ($((SECONDS - t0))s)"; fi
  if [ "$SELFTEST" = 1 ]; then selftest; log "selftest ok ($((SECONDS - t0))s)"; fi
  local ms=$(($(now_ms) - ms0))
  log "ready in $((ms / 1000)).$(printf %03d $((ms % 1000)))s — eval \"\$(bash $0 env)\""
}

cmd_env() {
  cat <<EOF
export CEPH_MINI_DIR=$DIR
export CEPH_CONF=$CONF
export CEPH_KEYRING=$ADMIN_KEYRING
export CEPH_CLIENT_ID=admin
export CEPH_MON_HOST=127.0.0.1:$MON_PORT
export RBD_POOL=$POOL
export RBD_USER=glance
export RBD_KEYRING=$GLANCE_KEYRING
export S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
export S3_ACCESS_KEY=$S3_ACCESS
export S3_SECRET_KEY=$S3_SECRET
export S3_REGION=us-east-1
export S3CMD_CONFIG=$DIR/s3cfg
export AWS_REQUEST_CHECKSUM_CALCULATION=WHEN_REQUIRED
export AWS_RESPONSE_CHECKSUM_VALIDATION=WHEN_REQUIRED
export RGW_SWIFT_AUTH_URL=http://127.0.0.1:$RGW_PORT/auth/1.0
export RGW_SWIFT_USER=$SWIFT_SUBUSER
export RGW_SWIFT_KEY=$SWIFT_KEY
EOF
}

cmd_status() {
  local n p
  for n in mon.a mgr.x osd.0 client.rgw.gw; do
    if p=$(pid_of "$n" 2>/dev/null) && running "$p"; then echo "$n: running (pid $p)"; else echo "$n: not running"; fi
  done
  if p=$(pid_of mon.a 2>/dev/null) && running "$p"; then c_ceph -s || true; fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) cmd_env ;;
  status) cmd_status ;;
  rgw-stop) cmd_rgw_stop ;;
  rgw-start) cmd_rgw_start ;;
  osd-pause) cmd_osd_signal STOP "paused (SIGSTOP)" ;;
  osd-resume) cmd_osd_signal CONT "resumed (SIGCONT)" ;;
  *) echo "usage: $0 start|stop|env|status|rgw-stop|rgw-start|osd-pause|osd-resume" >&2; exit 2 ;;
esac
