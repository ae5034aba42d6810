#!/usr/bin/env bash
# Debian packages the test suite talks to: the real OpenStack clients, qemu-img
# for disk images. Idempotent; needs root (CI runs as root).
# Everything a test or script reads from the system comes from a package named
# here, directly or as a hard Depends (CI installs with --no-install-recommends,
# on a fresh Debian 12 that has little more than Node, python3, make and g++):
# check a path with `dpkg -S PATH` before relying on it.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
PKGS=(
  python3-openstackclient python3-glanceclient   # CLI smoke tests
  qemu-utils fdisk genisoimage                   # real qcow2/vmdk/vhd/gpt/iso images
  gzip xz-utils zstd bzip2                       # compressed images
  keystone uwsgi-core uwsgi-plugin-python3 sqlite3 curl   # real Keystone (scripts/keystone.sh)
  python3-glance                                 # the policy/schema oracles: Glance's own rules and schemas
  glance-common                                  # /usr/share/glance-common/metadefs: Glance's metadata definitions (conformance)
  openssl                                        # the openssl command: self-signed certs for the TLS tests
  procps                                         # ps: scripts/lib.sh stop_pidfile finds a daemon's children
  tempest python3-subunit python3-testtools python3-keystoneclient   # npm run test:conformance
  ceph-mon ceph-osd radosgw ceph-common s3cmd    # S3 (and Swift API) of radosgw: scripts/backends/ceph-mini.sh
  librbd1 librados2                              # the rbd store dlopen()s them (ceph-common pulls them in too)
  swift swift-proxy swift-account swift-container swift-object memcached   # swift store (scripts/backends/swift-saio.sh)
  python3-swiftclient python3-keystonemiddleware
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-test-deps: all present"
  exit 0
fi
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=600 "${missing[@]}" >/dev/null
echo "install-test-deps: installed ${missing[*]}"
