#!/usr/bin/env bash
# Installs the Debian packages the tests drive for real, if any is missing:
# redis-server and redis-sentinel (fleet Sentinel test), the firewall tools, iproute2 for
# network namespaces, oathtool, chromium,
# curl and openssl (README's curl recipe; a self-signed certificate for the TLS tests), and
# nginx-light (the decoy is compared byte for byte with a real nginx).
# systemd-analyze scores the hardened unit; setpriv runs the CLI with only its capabilities.
# tini: the compose test runs the Docker image's start command, tini included.
# openssh: the tunnel tests run a real sshd (in a namespace) and the ssh client through 443.
# haproxy: the benchmark's reference relay for the tunnel's copy (row 9.copy); socat: its
# reference ProxyCommand for the WebSocket and SNI routes (rows 9.ws, 9.sni).
set -euo pipefail
declare -A need=(
  [redis-server]=redis-server [iptables]=iptables [ipset]=ipset [nft]=nftables
  [ip]=iproute2 [conntrack]=conntrack [oathtool]=oathtool [chromium]=chromium
  [curl]=curl [openssl]=openssl [nginx]=nginx-light [redis-sentinel]=redis-sentinel
  [systemd-analyze]=systemd [setpriv]=util-linux [tini]=tini
  [sshd]=openssh-server [ssh]=openssh-client [haproxy]=haproxy
  [socat]=socat
)
missing=()
for bin in "${!need[@]}"; do
  command -v "$bin" >/dev/null 2>&1 || missing+=("${need[$bin]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "webknock: installing ${missing[*]} (apt-get)..." >&2
  if [ "$(id -u)" -ne 0 ]; then
    echo "webknock: need root to install ${missing[*]}; run as root or install them first." >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not start their services (the host's own sshd, nginx, redis): tests start
  # their own on private ports or in namespaces. policy-rc.d exit 101 = "not allowed".
  policy=/usr/sbin/policy-rc.d
  created_policy=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && created_policy=1
  fi
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
fi
# The packaged redis-server service is not used (tests start their own on a private port).
