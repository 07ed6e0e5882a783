#!/usr/bin/env bash
# The Debian/Ubuntu packages Slipway needs beyond Python: git, make, venv, and the local container
# engine (ARCHITECTURE §4: Podman with runc, buildah, a loopback registry, busybox for base images), and what
# the embedded Kubernetes node needs (KUBERNETES-LOCAL.md: Go and build tools for the binaries built from
# Debian's source, etcd, containerd, the CNI plugins, iptables), and debootstrap for the local database images.
# Installs what is missing (as root, or through sudo); prints the command when it cannot.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive
packages=(make git python3-venv podman buildah runc catatonit docker-registry busybox-static
  golang-go rsync jq etcd-server containerd containernetworking-plugins iptables iproute2 util-linux
  debootstrap)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
python3 -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3-venv)
if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi
echo "system packages: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${missing[@]}"
elif command -v sudo >/dev/null; then
  sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
else
  echo "run as root: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
