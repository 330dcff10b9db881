# syntax=docker/dockerfile:1
# Ejento BFF. Build: docker build -t ejento-bff .   Run: docker run -p 3000:3000 --env-file .env ejento-bff
# scripts/check-docker-steps.sh carries out these instructions without Docker (CI runs it).
ARG NODE_IMAGE=node:24-alpine

# Build with the dev dependencies, then keep only the production ones.
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the package's prepare script (the build, for installs from git or a tarball)
# needs the sources, copied next; the build runs below.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The example page and the client it loads (web/vendor/, bundled from client/; not in git).
COPY client ./client
COPY web ./web
RUN npm run build && npm run client:bundle && npm prune --omit=dev

# Run as the unprivileged node user, configured only through the environment.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
COPY --from=build --chown=node:node /app/package.json ./package.json
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
# The example chat page; served only when STATIC_DIR=/app/web is set (docker-compose.yml does).
COPY --from=build --chown=node:node /app/web ./web
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
STOPSIGNAL SIGTERM
CMD ["node", "dist/server.js"]
