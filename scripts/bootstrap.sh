#!/usr/bin/env bash
# Make this machine ready for the project; shared by the Makefile and .ci/run.
#
#   scripts/bootstrap.sh install   Debian packages and .venv with requirements-dev.txt
#                                  (the server's requirements.txt, tests and tooling),
#                                  node and npm, and the JavaScript SDK's dev packages
#                                  (npm ci in sdk/js: tsc for make lint, ws for its tests)
#   scripts/bootstrap.sh test      the same, plus chromium for the browser test and
#                                  rabbitmq-server for the RabbitMQ broker test, and
#                                  MariaDB, Redis and RabbitMQ started and answering
#   scripts/bootstrap.sh run       Debian packages, .venv with requirements.txt only,
#                                  services, then the database (utf8mb4), migrations
#                                  and demo users (also for bench, whose Makefile
#                                  target adds requirements-dev.txt with `install`)
#   scripts/bootstrap.sh cluster   for `make cluster`: root only; the engines of the
#                                  local cluster (haproxy, galera-4, MariaDB, Redis,
#                                  RabbitMQ, rsync for Galera's state transfer,
#                                  iproute2 and util-linux for the namespaces) and
#                                  .venv with requirements.txt; no service is started
#                                  here (scripts/cluster.py starts its own)
#
# Packages are installed with apt-get when running as root; otherwise it stops
# and prints the exact command to run. Services are started when they do not
# answer and this is root; otherwise scripts/check_services.py says which one
# is down and how to start it. A second run does nothing it already did.
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-run}
case "$mode" in
  install | test | run | cluster) ;;
  *) echo "usage: $0 install|test|run|cluster" >&2; exit 2 ;;
esac

PYTHON=${PYTHON:-python3}
VENV=.venv
DB_HOST=${CHAT_DB_HOST:-127.0.0.1}
DB_PORT=${CHAT_DB_PORT:-3306}
# Host and port of the data Redis; the broker and channel layer default to the same server.
redis_url=${CHAT_REDIS_URL:-redis://127.0.0.1:6379/0}
redis_address=${redis_url#*://}
redis_address=${redis_address#*@}
redis_address=${redis_address%%/*}
REDIS_HOST=${redis_address%:*}
REDIS_PORT=${redis_address##*:}
[ "$REDIS_PORT" != "$redis_address" ] || REDIS_PORT=6379

is_local() { [ "$1" = 127.0.0.1 ] || [ "$1" = localhost ]; }
answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
is_root() { [ "$(id -u)" -eq 0 ]; }
wait_until_answers() {
  local name=$1 host=$2 port=$3
  for _ in $(seq 1 60); do
    answers "$host" "$port" && return 0
    sleep 1
  done
  echo "$name did not start answering on $host:$port within 60 s." >&2
}

# 1. Debian packages: what mysqlclient's build needs, make, and the servers
#    when they are neither installed nor answering.
install_packages() {
  local packages=(build-essential pkg-config libmariadb-dev python3-venv python3-dev make)
  [ "$mode" != test ] || packages+=(chromium chromium-driver)
  if [ "$mode" != run ] && [ "$mode" != cluster ] && ! { command -v node && command -v npm; } >/dev/null; then
    packages+=(nodejs npm)
  fi
  if [ "$mode" = cluster ]; then
    packages+=(haproxy galera-4 mariadb-server mariadb-client rsync redis-server redis-tools rabbitmq-server
      iproute2 iputils-ping util-linux iptables)
  fi
  # tests/test_rabbitmq.py: Celery on RabbitMQ's quorum queues, on the local server.
  if [ "$mode" = test ] && ! command -v rabbitmqctl >/dev/null && ! answers 127.0.0.1 5672; then
    packages+=(rabbitmq-server)
  fi
  if is_local "$DB_HOST" && [ ! -x /usr/sbin/mariadbd ] && ! answers "$DB_HOST" "$DB_PORT"; then
    packages+=(mariadb-server)
  fi
  if is_local "$REDIS_HOST" && ! command -v redis-server >/dev/null && ! answers "$REDIS_HOST" "$REDIS_PORT"; then
    packages+=(redis-server)
  fi
  if ! command -v dpkg >/dev/null; then
    echo "Not a Debian system: make sure these (or your system's equivalents) are installed: ${packages[*]}"
    return 0
  fi
  local missing=() pkg
  for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" 2>/dev/null | grep -q '^Status: install ok installed' || missing+=("$pkg")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  if ! is_root || ! command -v apt-get >/dev/null; then
    echo "Missing system packages: ${missing[*]}" >&2
    echo "Install them with:" >&2
    echo "  sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "Installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
}

# 2. MariaDB and Redis, started here when they are local, silent, and this is root.
start_services() {
  if is_local "$DB_HOST" && ! answers "$DB_HOST" "$DB_PORT" && is_root && [ -x /usr/sbin/mariadbd ]; then
    echo "Starting MariaDB"
    mkdir -p /run/mysqld
    chown mysql:mysql /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    wait_until_answers MariaDB "$DB_HOST" "$DB_PORT" || true
  fi
  allow_root_over_tcp
  if is_local "$REDIS_HOST" && ! answers "$REDIS_HOST" "$REDIS_PORT" && is_root && command -v redis-server >/dev/null; then
    echo "Starting Redis"
    redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no >/dev/null
    wait_until_answers Redis "$REDIS_HOST" "$REDIS_PORT" || true
  fi
  if [ "$mode" = test ] && ! answers 127.0.0.1 5672 && is_root && [ -x /etc/init.d/rabbitmq-server ]; then
    echo "Starting RabbitMQ"
    /etc/init.d/rabbitmq-server start >/dev/null || true
    wait_until_answers RabbitMQ 127.0.0.1 5672 || true
  fi
  migrate_accept_queues
}

# Each daphne listens on a socket of its own (scripts/web_process.py); with
# this, connections waiting in the accept queue of one that stops are handed
# to another instead of reset. Best effort: kernels before 5.14, or a
# container that may not write it, keep resetting them.
migrate_accept_queues() {
  is_root && [ -w /proc/sys/net/ipv4/tcp_migrate_req ] || return 0
  echo 1 > /proc/sys/net/ipv4/tcp_migrate_req 2>/dev/null || true
}

# A fresh Debian MariaDB lets root in through the Unix socket only; the
# project connects over TCP as root with an empty password (the default
# settings), so grant exactly that, on a local server, once.
allow_root_over_tcp() {
  is_local "$DB_HOST" && is_root && command -v mariadb >/dev/null || return 0
  [ "${CHAT_DB_USER:-root}" = root ] && [ -z "${CHAT_DB_PASSWORD:-}" ] || return 0
  answers "$DB_HOST" "$DB_PORT" || return 0
  mariadb --protocol=tcp -h 127.0.0.1 -P "$DB_PORT" -uroot -e 'SELECT 1' >/dev/null 2>&1 && return 0
  mariadb -uroot -e 'SELECT 1' >/dev/null 2>&1 || return 0
  echo "Allowing MariaDB's root to connect from 127.0.0.1 without a password (development default)"
  mariadb -uroot -e "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;"
}

# 3. The virtualenv. `run` installs requirements.txt (stamp .venv/.installed),
#    `install` and `test` requirements-dev.txt, which includes it (stamp
#    .venv/.installed-dev); a stamp is stale when it is older than any file it covers.
stale() {
  local stamp=$1 file
  shift
  [ -f "$stamp" ] || return 0
  for file in "$@"; do
    [ ! "$file" -nt "$stamp" ] || return 0
  done
  return 1
}
install_venv() {
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  if [ "$mode" = run ] || [ "$mode" = cluster ]; then
    stale "$VENV/.installed" requirements.txt || return 0
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -r requirements.txt
    touch "$VENV/.installed"
  else
    stale "$VENV/.installed-dev" requirements.txt requirements-dev.txt || return 0
    "$VENV/bin/pip" install --quiet --upgrade pip
    "$VENV/bin/pip" install --quiet -r requirements-dev.txt
    touch "$VENV/.installed" "$VENV/.installed-dev"
  fi
}

# 4. The JavaScript SDK's dev packages (`install` and `test`), from its package-lock;
#    again only when the lock changed since the last `npm ci` (its stamp in node_modules).
install_sdk_js() {
  [ "$mode" != run ] && [ "$mode" != cluster ] || return 0
  if ! command -v npm >/dev/null; then
    echo "npm not found: make lint skips the JavaScript SDK's type check, its tests skip" >&2
    return 0
  fi
  stale sdk/js/node_modules/.package-lock.json sdk/js/package-lock.json sdk/js/package.json || return 0
  (cd sdk/js && npm ci --no-audit --no-fund --loglevel=error)
}

if [ "$mode" = cluster ] && ! is_root; then
  echo "make cluster needs root: scripts/cluster.py creates network namespaces, a bridge and veth pairs," >&2
  echo "and starts MariaDB Galera, Redis, RabbitMQ and haproxy in them. Run it as root (sudo make cluster)." >&2
  exit 1
fi
install_packages
install_venv
install_sdk_js
[ "$mode" != install ] && [ "$mode" != cluster ] || exit 0
start_services
if [ "$mode" = test ]; then
  exec "$VENV/bin/python" scripts/check_services.py
fi
# 5. The application database, its tables and the demo users.
"$VENV/bin/python" scripts/check_services.py --create-db
"$VENV/bin/python" manage.py migrate --noinput
"$VENV/bin/python" manage.py seed_demo
