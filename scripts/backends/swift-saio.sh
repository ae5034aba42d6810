#!/usr/bin/env bash
# OpenStack Swift all-in-one (reference Swift, 1-replica rings) on 127.0.0.1,
# adapted from shared/recipes/swift-saio.sh, with a second proxy that
# authenticates against scripts/keystone.sh's Keystone.
#
#   swift-saio.sh start           memcached + account/container/object servers + the tempauth
#                                 proxy; idempotent: does nothing when all answer, starts only
#                                 what is missing when the state exists, else builds it fresh
#   swift-saio.sh start-keystone  start + Keystone (scripts/keystone.sh start) + a second proxy
#                                 with authtoken + keystoneauth, its service user, a store user,
#                                 and an `object-store` endpoint in Keystone's catalog
#   swift-saio.sh stop            stop everything started here (never Keystone)
#   swift-saio.sh stop-proxy [tempauth|keystone] / start-proxy [tempauth|keystone]
#                                 only one proxy (fault tests: "Swift went away mid-upload")
#   swift-saio.sh reset           stop and delete the state
#   swift-saio.sh status | env    `eval "$(swift-saio.sh env)"`
#
# tempauth proxy: http://127.0.0.1:8080, auth v1 at /auth/v1.0, users test:tester/testing
# (.admin), test2:tester2/testing2, test:tester3/testing3 (no .admin), admin:admin/admin
# (.reseller_admin: may set X-Account-Meta-Quota-Bytes, enforced by account_quotas: 413).
# Keystone proxy: http://127.0.0.1:8081, storage URLs http://127.0.0.1:8081/v1/AUTH_<project id>;
# operator roles admin, member. Keystone users (project "service"): swift/swift-secret
# (authtoken's service user), imago-swift/imago-swift-secret (role member: the store's account).
# authtoken does not cache validations (token_cache_time = -1) so that a revoked token is
# refused at once: tests revoke tokens mid-upload.
# Everything (configs, rings, "devices", logs, PIDs) lives under $SWIFT_SAIO_DIR (/tmp/swift-saio);
# only /etc/swift/swift.conf is read from /etc (Swift hard-codes it for the hash prefix/suffix and
# storage policies; the Debian package ships a usable one). Swift logs through syslog, so every
# server sends to a small UDP sink that appends to log/swift.log; per-server stdout/stderr in
# log/<server>.log.
# Debian 12 packages: swift swift-proxy swift-account swift-container swift-object memcached
#   python3-swiftclient (self-test) python3-keystonemiddleware (start-keystone) curl.
# Tunables: SWIFT_SAIO_DIR, SWIFT_SAIO_PORT (8080), SWIFT_SAIO_KEYSTONE_PORT (8081),
#   SWIFT_SAIO_BACKEND_PORT (6210; object, container, account, log sink = +0..+3),
#   SWIFT_SAIO_MEMCACHE_PORT (11222), SWIFT_SAIO_TOKEN_LIFE (tempauth, 86400 s),
#   SWIFT_SAIO_SELFTEST (1|0), SWIFT_SAIO_TIMEOUT (60).
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/lib.sh"
SELF=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")

DIR=${SWIFT_SAIO_DIR:-/tmp/swift-saio}
PROXY_PORT=${SWIFT_SAIO_PORT:-8080}
KS_PROXY_PORT=${SWIFT_SAIO_KEYSTONE_PORT:-8081}
BASE=${SWIFT_SAIO_BACKEND_PORT:-6210}
OBJ_PORT=$BASE CONT_PORT=$((BASE + 1)) ACCT_PORT=$((BASE + 2)) LOG_PORT=$((BASE + 3))
MC_PORT=${SWIFT_SAIO_MEMCACHE_PORT:-11222}
TOKEN_LIFE=${SWIFT_SAIO_TOKEN_LIFE:-86400}
SELFTEST=${SWIFT_SAIO_SELFTEST:-1}
TIMEOUT=${SWIFT_SAIO_TIMEOUT:-60}
ETC=$DIR/etc
RUN_USER=$(id -un)
AUTH_URL=http://127.0.0.1:$PROXY_PORT/auth/v1.0
BACKENDS="object container account"
SWIFT_DEBS="swift swift-proxy swift-account swift-container swift-object memcached python3-swiftclient curl"

# Keystone accounts made by start-keystone (project $SERVICE_PROJECT from lib.sh).
KS_SWIFT_USER=swift KS_SWIFT_PASSWORD=swift-secret
KS_STORE_USER=imago-swift KS_STORE_PASSWORD=imago-swift-secret

log() { printf '[swift-saio %s] %s\n' "$(date +%T)" "$*" >&2; }
die() {
  log "ERROR: $*"
  if [ -d "$DIR/log" ]; then # CI machines vanish: show the log tails here
    for f in "$DIR"/log/*.log; do [ -s "$f" ] && { echo "--- tail $f" >&2; tail -n 15 "$f" >&2; }; done
  fi
  exit 1
}

pid_of() { pidfile_pid "$DIR/run/$1.pid"; }
alive() { pid_alive "$DIR/run/$1.pid"; }
dead() { ! alive "$1"; }

# wait_for <seconds> <description> <service-or-"-"> <command...>
wait_for() {
  local t=$1 what=$2 svc=$3; shift 3
  local end=$((SECONDS + t))
  until "$@" >/dev/null 2>&1; do
    [ "$svc" != - ] && dead "$svc" && die "$svc died while waiting for $what"
    [ $SECONDS -lt $end ] || die "timeout (${t}s) waiting for $what"
    sleep 0.2
  done
}

common_default() {
  cat <<EOF
swift_dir = $ETC
devices = $DIR/srv
mount_check = false
bind_ip = 127.0.0.1
workers = 0
user = $RUN_USER
log_level = INFO
log_udp_host = 127.0.0.1
log_udp_port = $LOG_PORT
recon_cache_path = $DIR/cache
EOF
}

write_backend_confs() {
  mkdir -p "$ETC" "$DIR/srv/sdb1" "$DIR/log" "$DIR/run" "$DIR/cache"
  local s port
  for s in $BACKENDS; do
    case $s in object) port=$OBJ_PORT ;; container) port=$CONT_PORT ;; account) port=$ACCT_PORT ;; esac
    {
      echo "[DEFAULT]"; common_default; echo "bind_port = $port"
      echo "[pipeline:main]"; echo "pipeline = $s-server"
      echo "[app:$s-server]"; echo "use = egg:swift#$s"
      case $s in
        object) printf '[object-replicator]\n[object-reconstructor]\n[object-updater]\n[object-auditor]\n' ;;
        container) printf '[container-replicator]\n[container-updater]\n[container-auditor]\n[container-sync]\n' ;;
        account) printf '[account-replicator]\n[account-auditor]\n[account-reaper]\n' ;;
      esac
    } >"$ETC/$s-server.conf"
  done
}

# proxy_conf <port> <auth filters> <auth sections>
proxy_conf() {
  cat <<EOF
[DEFAULT]
swift_dir = $ETC
bind_ip = 127.0.0.1
bind_port = $1
workers = 0
user = $RUN_USER
log_level = INFO
log_udp_host = 127.0.0.1
log_udp_port = $LOG_PORT

[pipeline:main]
pipeline = catch_errors gatekeeper healthcheck proxy-logging cache listing_formats bulk tempurl $2 account_quotas copy slo dlo versioned_writes symlink proxy-logging proxy-server

[app:proxy-server]
use = egg:swift#proxy
allow_account_management = true
account_autocreate = true

$3

[filter:cache]
use = egg:swift#memcache
memcache_servers = 127.0.0.1:$MC_PORT
[filter:catch_errors]
use = egg:swift#catch_errors
[filter:gatekeeper]
use = egg:swift#gatekeeper
[filter:healthcheck]
use = egg:swift#healthcheck
[filter:proxy-logging]
use = egg:swift#proxy_logging
[filter:listing_formats]
use = egg:swift#listing_formats
[filter:bulk]
use = egg:swift#bulk
[filter:tempurl]
use = egg:swift#tempurl
[filter:account_quotas]
use = egg:swift#account_quotas
[filter:copy]
use = egg:swift#copy
[filter:slo]
use = egg:swift#slo
[filter:dlo]
use = egg:swift#dlo
[filter:versioned_writes]
use = egg:swift#versioned_writes
allow_versioned_writes = true
[filter:symlink]
use = egg:swift#symlink
EOF
}

write_tempauth_proxy_conf() {
  proxy_conf "$PROXY_PORT" "tempauth" "[filter:tempauth]
use = egg:swift#tempauth
token_life = $TOKEN_LIFE
user_admin_admin = admin .admin .reseller_admin
user_test_tester = testing .admin
user_test2_tester2 = testing2 .admin
user_test_tester3 = testing3" >"$ETC/proxy-server.conf"
}

write_keystone_proxy_conf() {
  proxy_conf "$KS_PROXY_PORT" "authtoken keystoneauth" "[filter:authtoken]
paste.filter_factory = keystonemiddleware.auth_token:filter_factory
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
username = $KS_SWIFT_USER
password = $KS_SWIFT_PASSWORD
project_name = $SERVICE_PROJECT
user_domain_id = default
project_domain_id = default
region_name = $REGION
delay_auth_decision = True
# no validation cache: a revoked token must be refused at once (tests revoke tokens mid-upload)
token_cache_time = -1
memcached_servers = 127.0.0.1:$MC_PORT

[filter:keystoneauth]
use = egg:swift#keystoneauth
reseller_prefix = AUTH_
operator_roles = admin, member" >"$ETC/proxy-keystone.conf"
}

build_rings() {
  # the equivalent of swift-ring-builder create 8 1 1 / add / rebalance for the three rings,
  # in ONE python process (~0.5 s instead of ~4 s for nine CLI calls)
  /usr/bin/python3 - "$ETC" "$OBJ_PORT" "$CONT_PORT" "$ACCT_PORT" >>"$DIR/log/rings.log" 2>&1 <<'PY' \
    || die "ring build failed (see $DIR/log/rings.log)"
import sys
from swift.common.ring import RingBuilder
etc, ports = sys.argv[1], sys.argv[2:5]
for name, port in zip(("object", "container", "account"), ports):
    b = RingBuilder(8, 1, 1)
    b.add_dev({"id": 0, "region": 1, "zone": 1, "ip": "127.0.0.1", "port": int(port),
               "replication_ip": "127.0.0.1", "replication_port": int(port), "device": "sdb1",
               "weight": 1, "meta": ""})
    b.rebalance()
    b.get_ring().save("%s/%s.ring.gz" % (etc, name))
    b.save("%s/%s.builder" % (etc, name))
    print(name, "ring: 1 device 127.0.0.1:%s/sdb1" % port)
PY
}

start_bg() { # start_bg <name> <cmd...>: a foreground server in the background, PID recorded
  local name=$1; shift
  closefds_exec setsid "$@" </dev/null >>"$DIR/log/$name.log" 2>&1 &
  echo $! >"$DIR/run/$name.pid" # the child execs setsid, which execs the server: same PID
}

# stop_one <name>: TERM the recorded PID if it is still a process we started, KILL after 10 s
stop_one() {
  local n=$1 p i
  p=$(pid_of "$n" 2>/dev/null) || return 0
  rm -f "$DIR/run/$n.pid"
  [ -n "$p" ] && running "$p" || return 0
  grep -qaE 'swift|memcached|python' "/proc/$p/cmdline" 2>/dev/null || return 0 # PID reused
  kill -TERM "$p" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do running "$p" || return 0; sleep 0.2; done
  log "$n (pid $p) ignored TERM, sending KILL"
  kill -KILL "$p" 2>/dev/null || true
}

check_xattr() { # Swift keeps object metadata in user.* xattrs
  local f=$DIR/srv/sdb1/.xattr-test
  touch "$f"
  /usr/bin/python3 -c "import os,sys; os.setxattr(sys.argv[1],'user.swift.test',b'1')" "$f" 2>/dev/null \
    || die "$DIR does not support user xattrs; set SWIFT_SAIO_DIR to ext4/xfs/tmpfs (e.g. /dev/shm/swift-saio)"
  rm -f "$f"
}

need_swift() {
  need_debs $SWIFT_DEBS
  [ -r /etc/swift/swift.conf ] || die "/etc/swift/swift.conf missing (shipped by the Debian 'swift' package)"
}

healthy() { curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/healthcheck"; }

start_logsink() {
  alive logsink && return 0
  rm -f "$DIR/run/logsink.ready"
  start_bg logsink /usr/bin/python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[3], "w").close()
with open(sys.argv[2], "ab", buffering=0) as f:
    while True:
        f.write(s.recv(65536).rstrip(b"\0\n") + b"\n")' "$LOG_PORT" "$DIR/log/swift.log" "$DIR/run/logsink.ready"
  wait_for 10 "log sink on udp 127.0.0.1:$LOG_PORT" logsink test -e "$DIR/run/logsink.ready"
}

start_backends() {
  start_logsink
  if ! alive memcached; then
    port_in_use "$MC_PORT" && die "127.0.0.1:$MC_PORT is in use (set SWIFT_SAIO_MEMCACHE_PORT)"
    start_bg memcached memcached -l 127.0.0.1 -p "$MC_PORT" -U 0 -m 64 -u "$RUN_USER"
  fi
  local s port
  for s in $BACKENDS; do
    alive "$s" && continue
    case $s in object) port=$OBJ_PORT ;; container) port=$CONT_PORT ;; account) port=$ACCT_PORT ;; esac
    port_in_use "$port" && die "127.0.0.1:$port is in use (set SWIFT_SAIO_BACKEND_PORT)"
    start_bg "$s" "swift-$s-server" "$ETC/$s-server.conf"
  done
  for s in $BACKENDS; do
    case $s in object) port=$OBJ_PORT ;; container) port=$CONT_PORT ;; account) port=$ACCT_PORT ;; esac
    wait_for "$TIMEOUT" "$s server on 127.0.0.1:$port" "$s" curl -sS -o /dev/null "http://127.0.0.1:$port/"
  done
  wait_for "$TIMEOUT" "memcached on 127.0.0.1:$MC_PORT" memcached port_in_use "$MC_PORT"
}

start_tempauth_proxy() {
  if alive proxy && healthy "$PROXY_PORT"; then return 0; fi
  stop_one proxy
  port_in_use "$PROXY_PORT" && die "127.0.0.1:$PROXY_PORT is in use by a process not started here (set SWIFT_SAIO_PORT)"
  write_tempauth_proxy_conf
  start_bg proxy swift-proxy-server "$ETC/proxy-server.conf"
  wait_for "$TIMEOUT" "proxy on 127.0.0.1:$PROXY_PORT" proxy healthy "$PROXY_PORT"
  wait_for "$TIMEOUT" "tempauth token" proxy curl -fsS -o /dev/null -H 'X-Auth-User: test:tester' -H 'X-Auth-Key: testing' "$AUTH_URL"
}

start_keystone_proxy() {
  if alive proxy-keystone && healthy "$KS_PROXY_PORT"; then return 0; fi
  stop_one proxy-keystone
  port_in_use "$KS_PROXY_PORT" && die "127.0.0.1:$KS_PROXY_PORT is in use by a process not started here (set SWIFT_SAIO_KEYSTONE_PORT)"
  write_keystone_proxy_conf
  start_bg proxy-keystone swift-proxy-server "$ETC/proxy-keystone.conf"
  wait_for "$TIMEOUT" "keystone proxy on 127.0.0.1:$KS_PROXY_PORT" proxy-keystone healthy "$KS_PROXY_PORT"
}

selftest() {
  local tmp=$DIR/selftest sw
  mkdir -p "$tmp"
  head -c 3145728 /dev/urandom >"$tmp/in"
  sw="timeout 60 swift -A $AUTH_URL -U test:tester -K testing"
  (cd "$tmp" && $sw upload --use-slo -S 1048576 saio-selftest in --object-name o >/dev/null \
    && $sw download saio-selftest o -o out >/dev/null && cmp -s in out \
    && $sw delete saio-selftest >/dev/null) || die "selftest: swift SLO upload/download/delete failed"
  rm -rf "$tmp"
}

cmd_start() {
  local t0=$SECONDS fresh=0
  if alive proxy && healthy "$PROXY_PORT" && alive object && alive container && alive account && alive memcached; then
    log "already running at http://127.0.0.1:$PROXY_PORT"
    return 0
  fi
  need_swift
  if [ ! -s "$ETC/object.ring.gz" ] || { dead object && dead container && dead account; }; then
    # nothing of ours is serving the state: build it fresh
    cmd_stop 2>/dev/null || true
    rm -rf "$DIR"
    write_backend_confs
    check_xattr
    build_rings
    fresh=1
  fi
  start_backends
  start_tempauth_proxy
  log "servers up ($((SECONDS - t0))s)"
  if [ "$fresh" = 1 ] && [ "$SELFTEST" = 1 ]; then
    if command -v swift >/dev/null; then selftest; log "selftest ok ($((SECONDS - t0))s)"
    else log "swift CLI (python3-swiftclient) not installed: selftest skipped"; fi
  fi
  log "ready in $((SECONDS - t0))s: eval \"\$(bash $SELF env)\""
}

cmd_start_keystone() {
  local t0=$SECONDS
  need_debs python3-keystonemiddleware
  cmd_start
  bash "$SCRIPTS_DIR/keystone.sh" start 8>&-
  if [ ! -f "$DIR/run/.keystone-accounts" ]; then
    admin_env
    $PY "$SCRIPTS_DIR/keystone-catalog.py" user "$SERVICE_PROJECT" "$KS_SWIFT_USER" "$KS_SWIFT_PASSWORD" admin,service >&2
    $PY "$SCRIPTS_DIR/keystone-catalog.py" user "$SERVICE_PROJECT" "$KS_STORE_USER" "$KS_STORE_PASSWORD" member >&2
    # Keystone fills in $(project_id)s per token: every project gets its own account
    $PY "$SCRIPTS_DIR/keystone-catalog.py" endpoint object-store swift \
      "http://127.0.0.1:$KS_PROXY_PORT/v1/AUTH_\$(project_id)s" "$REGION" >&2
    touch "$DIR/run/.keystone-accounts"
  fi
  start_keystone_proxy
  log "keystone proxy ready at http://127.0.0.1:$KS_PROXY_PORT ($((SECONDS - t0))s)"
}

cmd_stop() {
  [ -d "$DIR/run" ] || return 0
  local n
  for n in proxy-keystone proxy $BACKENDS memcached logsink; do stop_one "$n"; done
  rm -f "$DIR/run/.keystone-accounts" # the endpoint stays registered; re-checked on next start
  log "stopped"
}

which_proxy() {
  case "${1:-tempauth}" in
    tempauth) echo proxy ;;
    keystone) echo proxy-keystone ;;
    *) die "proxy: tempauth or keystone, not '$1'" ;;
  esac
}

cmd_stop_proxy() { stop_one "$(which_proxy "${1:-}")"; log "proxy ${1:-tempauth} stopped"; }

cmd_start_proxy() {
  case "$(which_proxy "${1:-}")" in
    proxy) start_tempauth_proxy ;;
    proxy-keystone) start_keystone_proxy ;;
  esac
  log "proxy ${1:-tempauth} up"
}

cmd_env() {
  cat <<EOF
export SWIFT_SAIO_DIR=$DIR
export SWIFT_AUTH_URL=$AUTH_URL
export SWIFT_USER=test:tester
export SWIFT_KEY=testing
export SWIFT_PROXY_URL=http://127.0.0.1:$PROXY_PORT
export SWIFT_STORAGE_URL=http://127.0.0.1:$PROXY_PORT/v1/AUTH_test
export SWIFT_KS_PROXY_URL=http://127.0.0.1:$KS_PROXY_PORT
export SWIFT_KS_AUTH_URL=$KEYSTONE_URL/v3
export SWIFT_KS_USER=$SERVICE_PROJECT:$KS_STORE_USER
export SWIFT_KS_KEY=$KS_STORE_PASSWORD
EOF
}

cmd_status() {
  local n p rc=0
  for n in logsink memcached $BACKENDS proxy proxy-keystone; do
    if p=$(pid_of "$n" 2>/dev/null) && running "$p"; then echo "$n: running (pid $p)"
    else echo "$n: not running"; [ "$n" = proxy-keystone ] || rc=1; fi
  done
  return $rc
}

# One start/stop at a time (tests and shells may call start together).
locked() {
  mkdir -p "$(dirname "$DIR")"
  exec 8>"$DIR.lock"
  flock -w 300 8 || die "timed out waiting for $DIR.lock"
  "$@"
}

case "${1:-}" in
  start) locked cmd_start ;;
  start-keystone) locked cmd_start_keystone ;;
  stop) locked cmd_stop ;;
  stop-proxy) locked cmd_stop_proxy "${2:-}" ;;
  start-proxy) locked cmd_start_proxy "${2:-}" ;;
  restart) locked cmd_stop; locked cmd_start ;;
  reset) locked cmd_stop; rm -rf "$DIR"; log "state removed" ;;
  env) cmd_env ;;
  status) cmd_status ;;
  *) sed -n '2,36p' "$0" >&2; exit 2 ;;
esac
