#!/bin/bash
# Smoke-test the two real CLIs against the image service in the catalog, as a
# user would: openstack image create/list/save/show/delete and glance
# image-create/image-list/image-download, checking (md5) that the bytes that
# come back are the bytes that went in; and, when the service has an image
# cache, glance cache-queue/cache-list/cache-delete/cache-clear.
#   cli-check.sh [--catalog-type TYPE] [--second-node URL]      TYPE defaults to image
# --second-node: another API node of the same service. Data staged with glance on the
# catalog's node is imported, and another image deleted, through that node: it relays
# both to the node that staged (os_glance_stage_host) with the user's token.
# With another TYPE: openstack gets a clouds.yaml with image_service_type:
# TYPE (normal catalog lookup + version discovery; this OSC ignores
# OS_IMAGE_ENDPOINT_OVERRIDE), glance gets OS_IMAGE_URL = that entry's
# public URL.
# Prints one ok/FAIL line per check and "cli-check: N passed, M failed" last;
# exits 1 on any failure.
# Needs: apt-get install python3-openstackclient python3-glanceclient qemu-utils
set -euo pipefail
. "$(dirname "$0")/../lib.sh"

CATALOG_TYPE=image
SECOND_NODE=
while [ $# -gt 0 ]; do
  case "$1" in
    --catalog-type) CATALOG_TYPE=$2; shift 2 ;;
    --catalog-type=*) CATALOG_TYPE=${1#*=}; shift ;;
    --second-node) SECOND_NODE=$2; shift 2 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
need_debs python3-openstackclient python3-glanceclient qemu-utils
wait_http "$KEYSTONE_URL/v3" 2 '^200$' || die "keystone is not running (scripts/keystone.sh start)"
D=${CLI_CHECK_STATE:-/tmp/imago-cli-check}
rm -rf "$D" && mkdir -p "$D" && cd "$D"
private_home "$D/home" "$D/tmp"
admin_env
export OS_IMAGE_API_VERSION=2
# Debian's clients (the python3 first on PATH may not see them).
openstack() { /usr/bin/openstack "$@"; }
glance() { /usr/bin/glance "$@"; }

url=$($PY "$SCRIPTS_DIR/keystone-catalog.py" list |
  awk -v t="$CATALOG_TYPE" '$1 == t && $3 == "public" {print $5}')
[ -n "$url" ] || die "no public '$CATALOG_TYPE' endpoint in the catalog (scripts/register-image-service.sh URL)"
log "cli-check: image service '$CATALOG_TYPE' at $url"
if [ "$CATALOG_TYPE" != image ]; then
  export OS_IMAGE_URL=$url
  cat >clouds.yaml <<YAML
clouds:
  imago:
    auth:
      auth_url: $OS_AUTH_URL
      username: $OS_USERNAME
      password: $OS_PASSWORD
      project_name: $OS_PROJECT_NAME
      user_domain_name: Default
      project_domain_name: Default
    region_name: $REGION
    identity_api_version: 3
    image_api_version: 2
    image_service_type: $CATALOG_TYPE
YAML
  openstack() { OS_CLIENT_CONFIG_FILE=$D/clouds.yaml /usr/bin/openstack --os-cloud imago "$@"; }
fi

t0=$SECONDS
qemu-img create -f qcow2 disk.qcow2 64M >/dev/null
want=$(md5sum <disk.qcow2 | cut -d' ' -f1)
name=cli-check-$$
passed=0 failed=0
check() {
  if "$@"; then echo "ok   $*" | cut -c1-110; passed=$((passed + 1))
  else echo "FAIL $*" | cut -c1-110; failed=$((failed + 1)); fi
}

id=$(openstack image create --file disk.qcow2 --disk-format qcow2 \
  --container-format bare "$name-osc" -f value -c id || true)
check test -n "$id"
check grep -q "^$id active" <(openstack image list -f value -c ID -c Status)
openstack image save --file saved-osc.qcow2 "$id" || true
check test "$(md5sum <saved-osc.qcow2 | cut -d' ' -f1)" = "$want"
check test "$(openstack image show "$id" -f value -c checksum)" = "$want"

gid=$(glance image-create --name "$name-glance" --disk-format qcow2 \
  --container-format bare --file disk.qcow2 | awk '$2 == "id" {print $4}' || true)
check test -n "$gid"
check grep -q "$gid" <(glance image-list)
glance image-download --file saved-glance.qcow2 "$gid" || true
check test "$(md5sum <saved-glance.qcow2 | cut -d' ' -f1)" = "$want"

# The cache API (2.14+), when the service runs a cache: queue, see the prefetcher cache it,
# delete it from the cache, queue again and clear.
if curl -s "${url%/}/versions" | grep -q '"v2.14"'; then
  # cache_state: the image's State column in `glance cache-list` (cached/queued), "none" when
  # absent; fails when the command does
  cache_state() {
    local out
    out=$(glance cache-list) || return 1
    awk -v id="$gid" -F'|' '$2 ~ id {gsub(/ /, "", $3); s = $3} END {print s ? s : "none"}' <<<"$out"
  }
  state_becomes() { local i; for ((i = 0; i < 40; i++)); do [ "$(cache_state)" = "$1" ] && return 0; sleep 0.5; done; return 1; }
  glance cache-queue "$gid" >/dev/null || true
  check state_becomes cached
  glance cache-delete "$gid" >/dev/null || true
  check test "$(cache_state || echo error)" = none
  glance cache-queue "$gid" >/dev/null || true
  state_becomes cached || true
  glance cache-clear --target cache >/dev/null || true
  check test "$(cache_state || echo error)" = none
fi

# Interoperable import across two API nodes: stage on the catalog's node, import and delete
# through the other one.
if [ -n "$SECOND_NODE" ]; then
  sid=$(glance image-create --name "$name-staged" --disk-format qcow2 --container-format bare |
    awk '$2 == "id" {print $4}' || true)
  glance image-stage --file disk.qcow2 "$sid" >/dev/null || true
  glance --os-image-url "$SECOND_NODE" image-import --import-method glance-direct "$sid" >/dev/null || true
  status_becomes() { local i; for ((i = 0; i < 40; i++)); do [ "$(openstack image show "$1" -f value -c status)" = "$2" ] && return 0; sleep 0.5; done; return 1; }
  check status_becomes "$sid" active
  glance image-download --file saved-staged.qcow2 "$sid" || true
  check test "$(md5sum <saved-staged.qcow2 | cut -d' ' -f1)" = "$want"
  did=$(glance image-create --name "$name-staged-deleted" --disk-format qcow2 --container-format bare |
    awk '$2 == "id" {print $4}' || true)
  glance image-stage --file disk.qcow2 "$did" >/dev/null || true
  glance --os-image-url "$SECOND_NODE" image-delete "$did" || true
  check test -z "$(openstack image list -f value -c ID | grep -e "$did")"
  openstack image delete "$sid" || true
fi

openstack image delete "$id" "$gid" || true
check test -z "$(openstack image list -f value -c ID | grep -e "$id" -e "$gid")"
log "cli-check: finished in $((SECONDS - t0))s"
echo "cli-check: $passed passed, $failed failed"
[ "$failed" = 0 ]
