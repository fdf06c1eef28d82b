#!/usr/bin/env bash
# Installs what ket-packages needs on Debian 12 (run as root), then the npm dependencies.
# Used by .ci/run, by the README's two commands and by every CodeBuild project (buildspecs/*.yml,
# on Docker's node:22-bookworm image: root, no sudo, an empty apt package list), so what CI tests
# is what AWS runs; safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  gnupg            # gpg: signing keys, repo metadata signatures
  rpm              # rpmbuild, rpmsign, rpm -K
  dpkg-dev         # dpkg-deb is in dpkg; dpkg-dev has dpkg-scanpackages for tests
  createrepo-c     # yum/dnf repodata
  aptly            # apt repository: the new packages' paragraphs, pool places, Release
  dnf              # real yum client for `verify`
  dnf-plugins-core
  apt              # real apt client for `verify` (already on Debian)
  awscli           # /usr/bin/aws (v2) for server-side copies
  skopeo           # daemonless image copies for kismatic-offline
  docker-registry  # local registry for tests and the offline try-out
  xz-utils pigz cpio curl ca-certificates
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]}" >&2
    echo "install them as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
