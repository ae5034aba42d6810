#!/bin/bash
# npm run test:conformance: OpenStack's own API tests (Tempest tempest.api.image)
# and the real CLIs against imago behind a real Keystone, all on 127.0.0.1.
#
#   imago.sh [--keep] [REGEX]
#
# Starts Keystone (scripts/keystone.sh) if needed, builds and starts imago with
# [paste_deploy] flavor = keystone on 127.0.0.1:$IMAGO_CONFORMANCE_PORT (9393),
# loads Glance's metadata definitions into it (the package glance-common's copy in
# /usr/share/glance-common/metadefs: /etc/glance/metadefs is only made by its postinst,
# so `dpkg -S` cannot vouch for it), registers it as the `image` service, runs Tempest
# with the features imago supports, then cli-check.sh. Tempest runs twice (IMAGO_CONFORMANCE_POLICY=
# legacy|srbac|both, default both): with Glance's legacy policy defaults, as the
# Zed baseline ran, and with secure RBAC (new defaults, scope), today's default.
# Tests imago may fail are listed with the reason in expected-failures.txt (empty
# today) and, for secure RBAC only, expected-failures-srbac.txt (where real Glance
# fails the same way); any other failure (or an expected failure that now passes,
# so the lists stay honest) makes the run fail, and so does any skipped test outside
# tempest.api.image.v1 (Glance has no v1 API): a feature imago stopped advertising,
# e.g. /v2/info/import listing no methods, must not turn its tests into silent skips.
# Everything started here (the two imago nodes, and Keystone when it was not running
# before) is stopped at the end, on failure and on Ctrl-C too; --keep leaves it all up.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
. "$HERE/../lib.sh"

KEEP=0
REGEX=
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) KEEP=1; shift ;;
    *) REGEX=$1; shift ;;
  esac
done

PORT=${IMAGO_CONFORMANCE_PORT:-9393}
STATE=${IMAGO_CONFORMANCE_STATE:-/tmp/imago-conformance}
FEATURES=${IMAGO_TEMPEST_FEATURES:-import_image,os_glance_reserved,manage_locations,image_caching}
REMOTE_PORT=$((PORT + 1))
EXPECTED=$HERE/expected-failures.txt
METADEFS=${IMAGO_CONFORMANCE_METADEFS:-/usr/share/glance-common/metadefs}

need_debs glance-common   # the metadata definitions loaded below
KEYSTONE_WAS_UP=0
"$ROOT/scripts/keystone.sh" status >/dev/null 2>&1 && KEYSTONE_WAS_UP=1

MODES=${IMAGO_CONFORMANCE_POLICY:-both}
[ "$MODES" != both ] || MODES="legacy srbac"
IMAGO_PIDS=()
stop_imago() { # TERM, then KILL what is still there after 10 s
  local p i
  [ ${#IMAGO_PIDS[@]} -gt 0 ] || return 0
  for p in "${IMAGO_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 100; i++)); do
    local left=0
    for p in "${IMAGO_PIDS[@]}"; do running "$p" && left=1; done
    [ $left = 1 ] || break
    sleep 0.1
  done
  for p in "${IMAGO_PIDS[@]}"; do
    if running "$p"; then log "imago pid $p ignored TERM, sending KILL"; kill -KILL "$p" 2>/dev/null || true; fi
    wait "$p" 2>/dev/null || true
  done
  IMAGO_PIDS=()
}
cleanup() {
  stop_imago
  if [ "$KEEP" = 0 ]; then
    "$ROOT/scripts/register-image-service.sh" --remove image >/dev/null 2>&1 || true
    "$ROOT/scripts/register-image-service.sh" --remove image_remote >/dev/null 2>&1 || true
    [ "$KEYSTONE_WAS_UP" = 1 ] || "$ROOT/scripts/keystone.sh" stop || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
"$ROOT/scripts/keystone.sh" start
eval "$("$ROOT/scripts/keystone.sh" env)"
(cd "$ROOT" && npm run build --silent)

start_imago() { # $1: legacy | srbac
  stop_imago
  rm -rf "$STATE"
  mkdir -p "$STATE"
  local secure=true
  [ "$1" = srbac ] || secure=false
  cat > "$STATE/glance-api.conf" <<CONF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = $PORT
imago_data_dir = $STATE/data
# The same stores as the reference Glance run (scripts/conformance/glance.sh).
enabled_backends = cheap:file, fast:file, web:http
show_image_direct_url = true
show_multiple_locations = true
enforce_secure_rbac = $secure
enabled_import_methods = [glance-direct,web-download,copy-image,glance-download]
worker_self_reference_url = http://127.0.0.1:$PORT
# The image cache (Tempest's image_caching); each node gets its own folder (set below).
image_cache_dir = $STATE/cache-$PORT

[oslo_policy]
enforce_new_defaults = $secure
enforce_scope = $secure

[paste_deploy]
flavor = keystone

[keystone_authtoken]
www_authenticate_uri = $KEYSTONE_URL
auth_url = $KEYSTONE_URL
auth_type = password
username = $IMAGO_SERVICE_USER
password = $IMAGO_SERVICE_PASSWORD
project_name = $IMAGO_SERVICE_PROJECT
user_domain_name = Default
project_domain_name = Default
region_name = $KEYSTONE_REGION
token_cache_time = 30

[glance_store]
default_backend = fast

[fast]
filesystem_store_datadir = $STATE/data/fast
[cheap]
filesystem_store_datadir = $STATE/data/cheap
[web]

[import_filtering_opts]
# Tempest's http image is Keystone's static file on 127.0.0.1:5000.
allowed_hosts = [127.0.0.1]
allowed_ports = [80,443,5000,$PORT,$REMOTE_PORT]
CONF
  # Metadata definitions, as a Glance deployment has them (glance-manage db_load_metadefs):
  # Tempest's metadefs tests use the seeded resource types.
  node "$ROOT/dist/src/cli/main.js" db load-metadefs --config-file "$STATE/glance-api.conf" --path "$METADEFS" >"$STATE/load-metadefs.log" 2>&1 || {
    cat "$STATE/load-metadefs.log"
    die "imago db load-metadefs failed"
  }
  # A second API node on the same database and data (Tempest's image_remote): imports
  # staged on one node are finished by the other.
  local p
  for p in "$PORT" "$REMOTE_PORT"; do
    node --max-semi-space-size=1 --enable-source-maps "$ROOT/dist/src/cli/main.js" serve --config-file "$STATE/glance-api.conf" \
      --bind-port "$p" --set "DEFAULT.worker_self_reference_url=http://127.0.0.1:$p" \
      --set "DEFAULT.image_cache_dir=$STATE/cache-$p" >"$STATE/imago-$p.log" 2>&1 &
    IMAGO_PIDS+=($!)
  done
  for p in "$PORT" "$REMOTE_PORT"; do
    for _ in $(seq 1 100); do
      curl -sf "http://127.0.0.1:$p/versions" >/dev/null 2>&1 && continue 2
      sleep 0.1
    done
    cat "$STATE"/imago-*.log
    die "imago did not answer on :$p"
  done
}

# Judges one Tempest result file against the expected-failure lists.
judge() { # $1 results file, $2.. expected-failure files
  local results=$1; shift
  local expected_ids unexpected fixed skipped n
  expected_ids=$(cat "$@" | awk '!/^#/ && NF {print $1}' | sort -u)
  unexpected=$(awk -F'\t' '$1=="fail" {print $2}' "$results" | sort -u | comm -23 - <(printf '%s\n' "$expected_ids"))
  fixed=$(awk -F'\t' '$1=="pass" {print $2}' "$results" | sort -u | comm -12 - <(printf '%s\n' "$expected_ids"))
  skipped=$(awk -F'\t' '$1=="skip" && $2 !~ /^tempest\.api\.image\.v1\./ {print $2 "  (" $3 ")"}' "$results")
  n=$(awk -F'\t' '$1=="fail" {print $2}' "$results" | sort -u | comm -12 - <(printf '%s\n' "$expected_ids") | wc -l)
  echo "conformance: $n expected failures (see $(basename -a "$@" | tr '\n' ' '))"
  if [ -n "$unexpected" ]; then echo "conformance: UNEXPECTED failures:"; printf '  %s\n' $unexpected; return 1; fi
  if [ -n "$fixed" ]; then echo "conformance: these now pass; remove them from the expected-failure list:"; printf '  %s\n' $fixed; return 1; fi
  if [ -n "$skipped" ]; then echo "conformance: SKIPPED outside the v1 API (a feature imago should have):"; sed 's/^/  /' <<<"$skipped"; return 1; fi
  [ -s "$results" ] || { echo "conformance: no results in $results"; return 1; }
  return 0
}

status=0
for mode in $MODES; do
  echo "conformance: === Tempest with $mode policy defaults ==="
  start_imago "$mode"
  "$ROOT/scripts/register-image-service.sh" "http://127.0.0.1:$PORT" >/dev/null
  "$ROOT/scripts/register-image-service.sh" "http://127.0.0.1:$REMOTE_PORT" image_remote >/dev/null
  set +e
  "$HERE/tempest.sh" --features "$FEATURES" --remote-type image_remote --label "imago-$mode" ${REGEX:+"$REGEX"}
  set -e
  RESULTS=${TEMPEST_STATE:-/tmp/imago-tempest}/results-imago-$mode.txt
  [ -z "$REGEX" ] || RESULTS=$(ls -t "${TEMPEST_STATE:-/tmp/imago-tempest}"/results-imago-"$mode"*.txt | head -1)
  lists=("$EXPECTED")
  [ "$mode" != srbac ] || lists+=("$HERE/expected-failures-srbac.txt")
  judge "$RESULTS" "${lists[@]}" || status=1
done

if [ -z "$REGEX" ]; then
  "$HERE/cli-check.sh" --second-node "http://127.0.0.1:$REMOTE_PORT" || status=1
fi
exit $status
