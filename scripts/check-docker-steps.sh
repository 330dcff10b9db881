#!/usr/bin/env bash
# Carries out the Dockerfile without a Docker engine, in a clean temporary folder, and checks
# the result: scripts/dockerfile-steps.mjs runs its instructions (build stage: npm ci, build,
# prune; runtime stage: the copies) on the image's Node.js major; then this script checks the
# runtime stage (unprivileged USER, production ENV, no dev dependency, .dockerignore keeping
# secrets out), starts it with its own CMD and ENV as an unprivileged user, probes it with its
# own HEALTHCHECK, logs in through it, serves the example page, and stops it with SIGTERM.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
step() { printf '\n== %s\n' "$*"; }
fail() { echo "docker steps: $*" >&2; exit 1; }
field() { node -e 'const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[process.argv[2]]; console.log(typeof v === "string" ? v : JSON.stringify(v ?? null))' "$work/image.json" "$1"; }
# A list field (an exec-form array, or ENV as NAME=value) NUL-separated, for `mapfile -d ''`: no shell parsing of its words.
words() { node -e 'const v = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))[process.argv[2]] ?? []; const list = Array.isArray(v) ? v : Object.entries(v).map(([k, x]) => `${k}=${x}`); process.stdout.write(list.map((w) => w + "\0").join(""))' "$work/image.json" "$1"; }

step "the image's Node.js"
node "$root/scripts/dockerfile-steps.mjs" --dry-run "$root" "$work/stages" > "$work/image.json" 2> "$work/dry-run.log" || { cat "$work/dry-run.log" >&2; fail "the Dockerfile cannot be read"; }
image="$(field image)"
major="$(printf '%s' "$image" | sed -n 's/^node:\([0-9][0-9]*\).*/\1/p')"
[ -n "$major" ] || fail "the runtime stage is not based on an official node image ($image)"
if [ "$(node -p 'process.versions.node.split(".")[0]')" != "$major" ]; then
  npm install --prefix "$work/node" --no-save --no-audit --no-fund --loglevel=error "node@$major"
  export PATH="$work/node/node_modules/.bin:$PATH"
fi
echo "$image: running the steps on Node.js $(node --version)"

step "the Dockerfile's instructions"
node "$root/scripts/dockerfile-steps.mjs" "$root" "$work/stages" > "$work/image.json"
app="$(field root)"

step "the runtime stage"
user="$(field user)"
case "$user" in root|0|0:*|root:*) fail "the image runs as root (USER $user)";; esac
echo "USER $user"
[ "$(node -p 'JSON.parse(process.argv[1]).HOST' "$(field env)")" = 0.0.0.0 ] || fail "ENV HOST is not 0.0.0.0"
[ "$(node -p 'JSON.parse(process.argv[1]).NODE_ENV' "$(field env)")" = production ] || fail "ENV NODE_ENV is not production"
node -e 'const e = JSON.parse(process.argv[1]); for (const [p, out] of Object.entries(e)) if (!out) { console.error(`.dockerignore lets ${p} into the build context`); process.exit(1) }' "$(field contextExcludes)"
for dev in typescript vitest tsx eslint playwright-core; do
  [ ! -e "$app/node_modules/$dev" ] || fail "dev dependency $dev is in the runtime stage"
done
[ ! -e "$app/src" ] && [ ! -e "$app/test" ] || fail "sources or tests are in the runtime stage"
echo "runtime stage: $(ls "$app" | tr '\n' ' ')- $(du -sh "$app" | cut -f1) (node_modules $(du -sh "$app/node_modules" | cut -f1))"

# The image's user does not exist here: run as nobody, which owns nothing, as the image's user owns nothing it writes to.
as_user=()
if [ "$(id -u)" = 0 ]; then
  chmod -R a+rX "$work"
  as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
fi
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
port="$(free_port)"; auth_port="$(free_port)"; api_port="$(free_port)"

step "start the simulator and the server with the image's CMD, ENV and WORKDIR"
(cd "$app" && SIM_AUTH_PORT="$auth_port" SIM_API_PORT="$api_port" exec node dist/simulator/cli.js) > "$work/simulator.log" 2>&1 &
pids+=($!)
mapfile -d '' cmd < <(words cmd)
mapfile -d '' image_env < <(words env)
mapfile -d '' health < <(words healthcheck)
[ "${#cmd[@]}" -gt 0 ] || fail "the image has no CMD"
[ "${#health[@]}" -gt 0 ] || fail "the image has no HEALTHCHECK"
echo "CMD ${cmd[*]}; ENV ${image_env[*]}"
secret="$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))')"
# As `docker run -e ...` would: the image's ENV, then the operator's configuration (PORT too, to run beside other tests).
(cd "$app" && exec env -i PATH="$PATH" "${image_env[@]}" "${as_user[@]}" env \
  PORT="$port" EJENTO_AUTH_URL="http://127.0.0.1:$auth_port" EJENTO_API_URL="http://127.0.0.1:$api_port" \
  SESSION_SECRET="$secret" COOKIE_SECURE=false STATIC_DIR="$app/web" "${cmd[@]}") > "$work/server.log" 2>&1 &
server=$!
pids+=("$server")

step "HEALTHCHECK (the Dockerfile's command)"
echo "HEALTHCHECK ${health[*]}"
for attempt in $(seq 1 100); do
  if (cd "$app" && exec env PORT="$port" "${as_user[@]}" "${health[@]}"); then break; fi
  if [ "$attempt" = 100 ]; then cat "$work/server.log" >&2; fail "the server never became healthy"; fi
  sleep 0.2
done
echo healthy
if [ "${#as_user[@]}" -gt 0 ]; then
  [ "$(ps -o uid= -p "$server" | tr -d ' ')" = 65534 ] || fail "the server does not run unprivileged"
  echo "running as uid 65534 (nobody)"
fi

step "a log-in through the running server, and the example page"
status="$(curl -s -o "$work/login.json" -w '%{http_code}' -H 'content-type: application/json' \
  -d '{"email":"demo@example.com","password":"demo-password"}' "http://127.0.0.1:$port/auth/login")"
cat "$work/login.json"; echo
[ "$status" = 200 ] || fail "log-in answered $status"
page="$(curl -s -w '%{http_code} %{content_type}' -o "$work/index.html" "http://127.0.0.1:$port/")"
case "$page" in "200 text/html"*) echo "GET / -> $page";; *) fail "the example page answered $page";; esac
grep -q '<script type="module"' "$work/index.html" || fail "the example page has no module script"
client="$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/vendor/ejento-bff-client.js")"
[ "$client" = 200 ] || fail "the example page's client (vendor/ejento-bff-client.js) answered $client"

step "SIGTERM: a clean exit"
kill -TERM "$server"
code=0; wait "$server" || code=$?
[ "$code" = 0 ] || { cat "$work/server.log" >&2; fail "the server exited with $code"; }
grep -q '"msg":"shut down"' "$work/server.log" || fail "no shut-down log line"
echo "docker steps: OK"
