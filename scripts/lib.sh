# Shared settings and helpers for the scripts that run real servers
# (sourced, not run). Everything they write lives under /tmp; nothing goes to
# /etc. Adapted from the conformance recipes in shared/recipes/conformance.

SCRIPTS_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Debian's interpreter: the first python3 on PATH may be a pyenv build that
# cannot see /usr/lib/python3/dist-packages (keystoneclient, tempest...).
PY=/usr/bin/python3

KEYSTONE_HOST=127.0.0.1
KEYSTONE_PORT=5000
KEYSTONE_URL=http://$KEYSTONE_HOST:$KEYSTONE_PORT
# Keystone's state (config, SQLite DB, keys, logs) is shared by every
# checkout on this machine: one Keystone on :5000, whoever started it.
KEYSTONE_STATE=${KEYSTONE_STATE:-/tmp/imago-keystone}
REGION=RegionOne

ADMIN_USER=admin
ADMIN_PASSWORD=secret
ADMIN_PROJECT=admin
# imago's own service user, for [keystone_authtoken] (admin in project
# "service", plus the "service" role that service_token_roles asks for).
SERVICE_PROJECT=service
IMAGO_SERVICE_USER=imago
IMAGO_SERVICE_PASSWORD=imago-secret

# Files served by keystone's uwsgi (static-map) for tests that need an
# http:// URL on loopback (web-download import, http-store locations).
HTTP_FILES_DIR=$KEYSTONE_STATE/http
HTTP_FILES_URL=$KEYSTONE_URL/conf-harness-files

admin_env() {
  export OS_AUTH_TYPE=password
  export OS_AUTH_URL=$KEYSTONE_URL/v3
  export OS_IDENTITY_API_VERSION=3
  export OS_USERNAME=$ADMIN_USER
  export OS_PASSWORD=$ADMIN_PASSWORD
  export OS_PROJECT_NAME=$ADMIN_PROJECT
  export OS_USER_DOMAIN_NAME=Default
  export OS_PROJECT_DOMAIN_NAME=Default
  export OS_REGION_NAME=$REGION
  export OS_INTERFACE=public
}

# Keep the Python tools' dot-files (~/.cache, ~/.config) and temporary files
# (tempfile in the SDK) inside a tree of ours: HOME_DIR [TMP_DIR].
private_home() {
  export HOME=$1 TMPDIR=${2:-$1/tmp}
  mkdir -p "$HOME" "$TMPDIR"
}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# need_debs PKG... : fail with an install hint when a Debian package is missing.
need_debs() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] || die "missing Debian package(s): ${missing[*]}
  install: DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${missing[*]}"
}

# port_in_use PORT [HOST]: true if something listens on HOST:PORT.
port_in_use() {
  local port=$1 host=${2:-127.0.0.1}
  (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null
}

# running PID: the process exists and is not a zombie (PID 1 in a container reaps orphans lazily,
# so kill -0 alone would call a dead daemon alive).
running() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }

# pidfile_pid PIDFILE: print the pid recorded in PIDFILE (fails if there is none).
pidfile_pid() { [ -s "$1" ] && cat "$1"; }

# pid_alive PIDFILE: true if the pid in PIDFILE is a live process.
pid_alive() {
  local pid
  pid=$(pidfile_pid "$1") && [ -n "$pid" ] && running "$pid"
}

# closefds_exec CMD...: close every fd above 2, then exec CMD. Call it only in a child (a background
# job or a ( subshell )): a daemon must not hold a pipe of whoever started us, or a CI runner that
# waits for EOF on its pipes would hang.
closefds_exec() {
  local fd
  for fd in "/proc/$BASHPID/fd"/*; do
    fd=${fd##*/}
    [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null
  done
  exec "$@"
}

# wait_http URL SECONDS [EXPECTED_CODES_REGEX]
wait_http() {
  local url=$1 secs=$2 want=${3:-'^(200|300)$'} code i
  for ((i = 0; i < secs * 4; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
    if [[ $code =~ $want ]]; then return 0; fi
    sleep 0.25
  done
  return 1
}

# stop_pidfile PIDFILE NAME: TERM the process we started (and, if it
# lingers, its direct children, e.g. uwsgi workers), KILL after 15 s.
stop_pidfile() {
  local f=$1 name=$2 pid kids i
  if ! pid_alive "$f"; then
    rm -f "$f"
    log "$name: not running"
    return 0
  fi
  pid=$(cat "$f")
  kids=$(ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ' || true)
  log "$name: stopping pid $pid"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 60; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name: pid $pid ignored TERM, sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  for k in $kids; do
    kill -0 "$k" 2>/dev/null && kill -KILL "$k" 2>/dev/null || true
  done
  rm -f "$f"
}
