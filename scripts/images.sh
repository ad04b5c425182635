#!/usr/bin/env bash
# Build the servers' container images with docker or podman, whichever works on this machine.
#
#   scripts/images.sh build [server ...]   wheelhouse, base image, then one image per server (default: all),
#                                          each with its SBOM in build/sbom/
#   scripts/images.sh test [server ...]    smoke-test the built images (scripts/test_images.py)
#   scripts/images.sh engine               print the engine (installs podman when neither works)
#   scripts/images.sh base                 print the base image (makes one offline when none can be pulled)
#
# Environment:
#   CONTAINER_ENGINE  docker or podman (default: docker when its daemon answers, else podman)
#   BASE_IMAGE        base of both stages (default: python:3.11-slim-bookworm when it is present or can be
#                     pulled, else localhost/warden-base:bookworm, made here with debootstrap)
#   IMAGE_PREFIX      images are <prefix>warden-<name>:<version> and :latest (default: localhost/)
#   DEBIAN_MIRROR     debootstrap's mirror (default: http://deb.debian.org/debian)
#   UV                the uv to run (default: uv on PATH)
#
# Every build runs with `--network none`: what the images install comes from build/wheelhouse, made on
# the host from uv.lock by scripts/wheelhouse.py.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON_BASE=docker.io/library/python:3.11-slim-bookworm
LOCAL_BASE=localhost/warden-base:bookworm
IMAGE_PREFIX=${IMAGE_PREFIX:-localhost/}
UV=${UV:-uv}

log() { printf '%s images: %s\n' "$(date +%T)" "$*" >&2; }

# ensure COMMAND PACKAGE...: without COMMAND, install the Debian packages (CI machines are fresh Debian 12,
# and root).
ensure() {
  command -v "$1" >/dev/null && return
  shift
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    log "missing: $* (install them, or run this as root on Debian)"
    exit 1
  fi
  log "apt-get install $*"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

engine() {
  if [[ -n ${CONTAINER_ENGINE:-} ]]; then
    echo "$CONTAINER_ENGINE"
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    echo docker
  else
    ensure podman podman runc netavark aardvark-dns iptables
    echo podman
  fi
}

# Podman on these hosts: the runc runtime (crun fails on hybrid cgroups) and explicit ulimits.
configure_podman() {
  if [[ -z ${CONTAINERS_CONF:-} ]]; then
    mkdir -p build
    {
      echo '[containers]'
      echo 'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]'
      if command -v runc >/dev/null; then
        echo '[engine]'
        echo 'runtime = "runc"'
      fi
    } >build/containers.conf
    export CONTAINERS_CONF=$PWD/build/containers.conf
  fi
}

has_image() { "$ENGINE" image inspect "$1" >/dev/null 2>&1; }

# A Debian 12 root filesystem with Python 3.11, imported as an image: the base when nothing can be pulled.
make_local_base() {
  ensure debootstrap debootstrap
  local root=build/base-rootfs
  rm -rf "$root"
  mkdir -p build
  log "debootstrap bookworm (no base image could be pulled)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >build/debootstrap.log 2>&1 ||
    { tail -n 20 build/debootstrap.log >&2; exit 1; }
  # Leave out what a slim image leaves out: package caches and lists, documentation, locales.
  tar -C "$root" -c --exclude='./var/cache/apt/archives/*.deb' --exclude='./var/lib/apt/lists/*' \
    --exclude=./usr/share/doc --exclude=./usr/share/man --exclude=./usr/share/info --exclude=./usr/share/locale . |
    "$ENGINE" import --quiet --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change 'CMD ["python3"]' - "$LOCAL_BASE" >/dev/null
  rm -rf "$root"
}

base_image() {
  if [[ -n ${BASE_IMAGE:-} ]]; then
    echo "$BASE_IMAGE"
  elif has_image "$PYTHON_BASE" || "$ENGINE" pull -q "$PYTHON_BASE" >/dev/null 2>&1; then
    echo "$PYTHON_BASE"
  else
    has_image "$LOCAL_BASE" || make_local_base
    echo "$LOCAL_BASE"
  fi
}

build() {
  local servers=("$@")
  [[ ${#servers[@]} -gt 0 ]] || mapfile -t servers < <(ls servers/*/Dockerfile | cut -d/ -f2)
  local base
  base=$(base_image)
  log "engine $ENGINE, base image $base"
  "$UV" run --frozen python scripts/wheelhouse.py "${servers[@]}"
  local format=()
  [[ $ENGINE == podman ]] && format=(--format docker) # OCI images would drop the HEALTHCHECK
  local name version start
  for name in "${servers[@]}"; do
    version=$(sed -n 's/^version = "\(.*\)"/\1/p' "servers/$name/pyproject.toml")
    start=$SECONDS
    "$ENGINE" build --quiet "${format[@]}" --network none --build-arg "BASE_IMAGE=$base" \
      -f "servers/$name/Dockerfile" -t "${IMAGE_PREFIX}warden-$name:$version" -t "${IMAGE_PREFIX}warden-$name:latest" . >/dev/null
    log "${IMAGE_PREFIX}warden-$name:$version built in $((SECONDS - start)) s"
    sbom "$name" "$version"
  done
}

# sbom NAME VERSION: build/sbom/warden-NAME-VERSION.cdx.json, a CycloneDX SBOM of what the image installs from
# the wheelhouse (the lock's pins and hashes, plus lpwarden-core and the server), made with cyclonedx-py.
sbom() {
  local out=build/sbom/warden-$1-$2.cdx.json
  mkdir -p build/sbom
  # cyclonedx-py warns that a requirements file carries no dependency graph: it is a flat, pinned list.
  PYTHONWARNINGS=ignore::UserWarning "$UV" run --frozen cyclonedx-py requirements --mc-type application \
    --pyproject "servers/$1/pyproject.toml" --output-reproducible -o "$out" "build/wheelhouse/requirements/$1-image.txt"
  log "$out written"
}

ENGINE=$(engine)
[[ $ENGINE == podman ]] && configure_podman
case ${1:-build} in
  engine) echo "$ENGINE" ;;
  base) base_image ;;
  build) shift || true; build "$@" ;;
  test) shift; CONTAINER_ENGINE=$ENGINE IMAGE_PREFIX=$IMAGE_PREFIX exec "$UV" run --frozen python scripts/test_images.py "$@" ;;
  *) echo "usage: $0 build|test [server ...] | engine | base" >&2; exit 2 ;;
esac
