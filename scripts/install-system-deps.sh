#!/usr/bin/env bash
# System packages the tests use. Idempotent: installs only what is missing.
set -euo pipefail
need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v docker-compose >/dev/null 2>&1 || need+=(docker-compose)
command -v npm >/dev/null 2>&1 || need+=(npm)  # deploy tests: Grafana's dashboard schema
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# Prometheus starts itself as a service on install; the tests run their own.
systemctl stop prometheus >/dev/null 2>&1 || service prometheus stop >/dev/null 2>&1 || true
echo "system deps ok: $(chromium --version 2>/dev/null | head -1); $(promtool --version 2>&1 | head -1)"
