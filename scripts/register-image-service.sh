#!/bin/bash
# Register an Images v2 endpoint (imago) in scripts/keystone.sh's catalog as
# service type "image", region RegionOne, public/internal/admin = URL.
#   register-image-service.sh URL [TYPE]    TYPE defaults to image
#   register-image-service.sh --remove [TYPE]
# URL is the API root, as for Glance (e.g. http://127.0.0.1:9292), without
# /v2. This replaces whatever "image" entry was there (e.g. the reference
# Glance of conformance/glance.sh). Keystone's in-process cache is coherent
# (one process), so clients see the new entry at once.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

wait_http "$KEYSTONE_URL/v3" 2 '^200$' || die "keystone is not running (scripts/keystone.sh start)"
admin_env
if [ "${1:-}" = --remove ]; then
  $PY "$SCRIPTS_DIR/keystone-catalog.py" remove "${2:-image}"
  exit 0
fi
[ $# -ge 1 ] || { sed -n '2,9p' "$0" >&2; exit 2; }
URL=${1%/}
TYPE=${2:-image}
case "$URL" in http://*|https://*) ;; *) die "URL must start with http:// or https://" ;; esac
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/" || true)
case "$code" in
  200|300) ;;
  *) log "warning: GET $URL/ answered '$code' (an Images API answers 300 with its versions)" ;;
esac
name=imago
[ "$TYPE" = image ] || name=imago-$TYPE
$PY "$SCRIPTS_DIR/keystone-catalog.py" endpoint "$TYPE" "$name" "$URL" "$REGION"
log "registered $URL as service type '$TYPE' in $REGION"
