#!/usr/bin/env bash
# Performs the Dockerfile's steps without a Docker engine, in a clean temporary folder, and
# checks that the result serves: build stage (npm ci, build, prune to production
# dependencies), runtime stage (only package.json, node_modules and dist), started with the
# image's own CMD and production settings, probed with the image's own HEALTHCHECK command.
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

# The Dockerfile's instructions, read from the Dockerfile itself so the two cannot drift apart.
dockerfile_json() { # $1: CMD or HEALTHCHECK; prints the exec-form array of the runtime stage
  node -e '
    const text = require("fs").readFileSync(process.argv[1], "utf8").replace(/\\\n\s*/g, " ")
    const runtime = text.slice(text.lastIndexOf("FROM "))
    const line = runtime.split("\n").find((l) => l.startsWith(process.argv[2] + " "))
    const json = line.slice(line.indexOf("["))
    console.log(JSON.parse(json).map((a) => JSON.stringify(a)).join(" "))
  ' "$root/Dockerfile" "$1"
}

step "build stage: COPY package files, npm ci, COPY sources, build, prune"
mkdir -p "$work/build" "$work/runtime"
cp "$root/package.json" "$root/package-lock.json" "$work/build/"
(cd "$work/build" && npm ci --no-audit --no-fund --loglevel=error)
cp "$root/tsconfig.json" "$root/tsconfig.build.json" "$work/build/"
cp -r "$root/src" "$work/build/src"
(cd "$work/build" && npm run build --silent && npm prune --omit=dev --no-audit --no-fund --loglevel=error)

step "runtime stage: only package.json, node_modules and dist"
cp -r "$work/build/package.json" "$work/build/node_modules" "$work/build/dist" "$work/runtime/"
for dev in typescript vitest tsx eslint; do
  if [ -e "$work/runtime/node_modules/$dev" ]; then echo "dev dependency $dev is in the runtime image" >&2; exit 1; fi
done
echo "runtime size: $(du -sh "$work/runtime" | cut -f1) (node_modules $(du -sh "$work/runtime/node_modules" | cut -f1))"

free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
port="$(free_port)"; auth_port="$(free_port)"; api_port="$(free_port)"

step "start the simulator and the server with the image's CMD and production settings"
cd "$work/runtime"
SIM_AUTH_PORT="$auth_port" SIM_API_PORT="$api_port" node dist/simulator/cli.js > "$work/simulator.log" 2>&1 &
pids+=($!)
cmd="$(dockerfile_json CMD)"
echo "CMD: $cmd"
env -i PATH="$PATH" NODE_ENV=production HOST=0.0.0.0 PORT="$port" \
  EJENTO_AUTH_URL="http://127.0.0.1:$auth_port" EJENTO_API_URL="http://127.0.0.1:$api_port" \
  SESSION_SECRET="$(node -e 'console.log(require("crypto").randomBytes(32).toString("base64url"))')" \
  COOKIE_SECURE=false \
  bash -c "exec $cmd" > "$work/server.log" 2>&1 &
server=$!
pids+=("$server")

step "HEALTHCHECK (the Dockerfile's command)"
health="$(dockerfile_json HEALTHCHECK | sed 's/^"CMD" //')"
echo "HEALTHCHECK: $health"
for attempt in $(seq 1 50); do
  if env PORT="$port" bash -c "$health"; then break; fi
  if [ "$attempt" = 50 ]; then echo "the server never became healthy" >&2; cat "$work/server.log" >&2; exit 1; fi
  sleep 0.2
done
echo healthy

step "a log-in through the running server"
status="$(curl -s -o "$work/login.json" -w '%{http_code}' -H 'content-type: application/json' \
  -d '{"email":"demo@example.com","password":"demo-password"}' "http://127.0.0.1:$port/auth/login")"
cat "$work/login.json"; echo
[ "$status" = 200 ] || { echo "log-in answered $status" >&2; exit 1; }

step "SIGTERM: a clean exit"
kill -TERM "$server"
code=0; wait "$server" || code=$?
[ "$code" = 0 ] || { echo "the server exited with $code" >&2; cat "$work/server.log" >&2; exit 1; }
grep -q '"msg":"shut down"' "$work/server.log"
echo "docker steps: OK"
