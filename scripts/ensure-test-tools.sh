#!/bin/sh
# The browser tests drive Debian's Chromium, the deployment test runs Debian's nginx, the Redis
# mode tests run redis-server and openssl. `npm
# test` runs this first, so that a fresh machine needs nothing installed by hand: what is
# missing comes from apt (one `apt-get update`, one `apt-get install`).
set -e
browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
nginx="${NGINX_PATH:-/usr/sbin/nginx}"

missing=''
[ -x "$browser" ] || missing="$missing chromium"
[ -x "$nginx" ] || missing="$missing nginx"
# The Redis TLS and Sentinel tests start redis-server processes of their own, with certificates made by openssl.
# Their sentinels run as `redis-server sentinel.conf --sentinel`, the same program: Debian's redis-sentinel
# package (a link to it, and a service on port 26379) is not needed.
command -v redis-server > /dev/null || missing="$missing redis-server"
# redis-cli creates the test clusters (Debian's redis-tools, which redis-server brings).
command -v redis-cli > /dev/null || missing="$missing redis-tools"
command -v openssl > /dev/null || missing="$missing openssl"
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ] || ! command -v apt-get > /dev/null; then
  echo "missing test tools:$missing; install them (apt-get install$missing) or set CHROMIUM_PATH / NGINX_PATH: the tests that need them will fail." >&2
  exit 0
fi

# The deployment test starts an nginx of its own on a free port: Debian's nginx service must not
# start on port 80. invoke-rc.d asks policy-rc.d, and 101 means "do not start".
policy=/usr/sbin/policy-rc.d
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' > "$policy"
  chmod 755 "$policy"
  trap 'rm -f "$policy"' EXIT
fi

echo "installing test tools (apt-get install$missing) ..."
# Another engineer's `npm test` may be installing at the same time: wait for apt's lock.
apt-get -o DPkg::Lock::Timeout=600 update -qq
# shellcheck disable=SC2086 # one package name per word
DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq $missing > /dev/null

case "$missing" in *nginx*)
  # Keep the service off at boot too, and stop it should a policy have let it start.
  update-rc.d nginx disable > /dev/null 2>&1 || true
  if [ -s /run/nginx.pid ]; then service nginx stop > /dev/null 2>&1 || true; fi
esac
