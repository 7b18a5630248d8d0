#!/usr/bin/env bash
# Makes a fresh machine ready: pnpm (pinned), the dependencies, and with --test-services the
# services the tests use (Docker: docker.io + busybox-static from Debian, dockerd started).
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."

PNPM_VERSION=12.4.2
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm -v 2>/dev/null)" != "$PNPM_VERSION" ]; then
  echo "bootstrap: installing pnpm $PNPM_VERSION"
  npm install -g "pnpm@$PNPM_VERSION" >/dev/null
fi

# better-sqlite3 compiles against Node's headers; without this node-gyp tries to download them.
export npm_config_nodedir="${npm_config_nodedir:-/usr}"
pnpm install --frozen-lockfile

if [ "${1:-}" = "--test-services" ]; then
  if ! command -v dockerd >/dev/null 2>&1 || ! command -v busybox >/dev/null 2>&1; then
    echo "bootstrap: installing docker.io and busybox-static"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null
    apt-get install -y -qq docker.io busybox-static >/dev/null
  fi
  if ! docker info >/dev/null 2>&1; then
    echo "bootstrap: starting dockerd"
    # No systemd here: dockerd runs in the background for the length of the session.
    nohup dockerd >/tmp/dockerd.log 2>&1 &
    for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
    docker info >/dev/null 2>&1 || { echo "bootstrap: dockerd did not start, see /tmp/dockerd.log" >&2; exit 1; }
  fi
fi
