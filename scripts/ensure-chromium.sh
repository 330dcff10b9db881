#!/bin/sh
# The browser tests drive Debian's Chromium. `npm test` runs this first, so that a fresh
# machine needs nothing installed by hand: Chromium comes from apt when it is missing.
set -e
browser="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$browser" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
  echo "installing Chromium for the browser tests (apt-get install chromium) ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
  exit 0
fi
echo "Chromium is missing at $browser and cannot be installed from here: install it (apt-get install chromium) or set CHROMIUM_PATH; the browser tests will fail without it." >&2
