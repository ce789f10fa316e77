#!/usr/bin/env bash
# Prepares a fresh Debian machine for the full test suite: Debian packages, local services, npm packages.
# Safe to run again: it installs and starts only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_packages=(jupyterhub python3-jupyter-server python3-notebook python3-ipykernel node-configurable-http-proxy
  python3-requests python3-tornado sqlite3 chromium
  redis-server postgresql mariadb-server python3-psycopg2 python3-pymysql python3-yaml python3-jsonschema wrk openssl)
missing=()
for p in "${apt_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Services the integration tests talk to; each is started only when it does not answer.
if ! redis-cli -h 127.0.0.1 ping >/dev/null 2>&1; then
  echo "setup: starting redis"
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
fi
if ! pg_isready -h 127.0.0.1 -q 2>/dev/null; then
  echo "setup: starting postgresql"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! mariadb -uroot -h127.0.0.1 -e 'select 1' >/dev/null 2>&1; then
  echo "setup: starting mariadb"
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
fi
for i in $(seq 1 60); do
  redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 && pg_isready -h 127.0.0.1 -q && mariadb -uroot -h127.0.0.1 -e 'select 1' >/dev/null 2>&1 && break
  sleep 1
done
# the suites expect these databases and trust/empty-password logins, as on the project's machines
psql -h 127.0.0.1 -U postgres -tc "select 1 from pg_database where datname='test'" | grep -q 1 || psql -h 127.0.0.1 -U postgres -c 'create database test' >/dev/null
mariadb -uroot -h127.0.0.1 -e 'create database if not exists test'

npm ci --no-audit --no-fund
