#!/usr/bin/env bash
# Validate compose.yaml without a daemon: `docker-compose config` checks it against the Compose schema
# and resolves every variable. It runs against .env.example, so the check needs no secrets, and it also
# proves that .env.example sets every variable compose.yaml requires. Debian's docker-compose (1.29) is
# installed when missing (without its recommended docker.io: no daemon is needed).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null; then
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
    echo "check-compose: docker-compose is missing (Debian: apt-get install --no-install-recommends docker-compose)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends docker-compose >/dev/null
fi
docker-compose --env-file .env.example --file compose.yaml config --quiet
