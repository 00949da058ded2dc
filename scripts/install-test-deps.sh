#!/usr/bin/env bash
# Install the Debian packages the integration tests need (BIND, Knot, Unbound, Postfix, tools).
# Idempotent: a quick no-op when everything is already installed.
set -euo pipefail

PACKAGES=(bind9 bind9-utils bind9-dnsutils knot knot-dnsutils unbound postfix openssl ldnsutils pebble
    prometheus systemd) # promtool checks check --format prometheus; systemd-analyze, init's units
PACKAGES+=(pdns-server pdns-backend-sqlite3) # the powerdns provider's tests: HTTP API, gsqlite3

installed=$(dpkg-query -W -f='${Package} ${Status}\n' "${PACKAGES[@]}" 2>/dev/null |
    awk '$NF == "installed" {print $1}' || true)
missing=()
for pkg in "${PACKAGES[@]}"; do
    grep -qx "$pkg" <<<"$installed" || missing+=("$pkg")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

SUDO=()
[[ $(id -u) -ne 0 ]] && SUDO=(sudo)

echo "postfix postfix/main_mailer_type select No configuration" | "${SUDO[@]}" debconf-set-selections
export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"

# The packages may start system daemons that would hold ports 53 or 25: stop them.
for svc in named knot unbound postfix pdns prometheus prometheus-node-exporter; do
    if [[ -d /run/systemd/system ]]; then
        "${SUDO[@]}" systemctl stop "$svc" >/dev/null 2>&1 || true
    else
        "${SUDO[@]}" service "$svc" stop >/dev/null 2>&1 || true
    fi
done
echo "test dependencies installed: ${missing[*]}"
