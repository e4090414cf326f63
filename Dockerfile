# Pombo: build the server to JavaScript, then run it on a slim Node image as an unprivileged user.
#   docker build -t pombo .
#   docker run -p 8080:8080 -v pombo-data:/data pombo
# The generated API key is printed in the container's log at its first start and kept in /data/api-key.

FROM node:22-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 compiles from source where it has no prebuilt binary for the platform.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json tsconfig.base.json ./
COPY packages/server/package.json packages/server/
COPY packages/sdk/package.json packages/sdk/
RUN npm ci --no-audit --no-fund
COPY packages/server/tsconfig.build.json packages/server/
COPY packages/server/scripts packages/server/scripts
COPY packages/server/src packages/server/src
RUN npm run build:server \
 && npm prune --omit=dev --no-audit --no-fund \
 && rm -rf node_modules/@pombo packages/server/dist/.tsbuildinfo \
 && mkdir -p packages/server/node_modules

FROM node:22-bookworm-slim
ENV NODE_ENV=production \
    DATA_DIR=/data \
    SERVER_PORT=8080
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules node_modules
COPY --from=build /app/packages/server/package.json packages/server/
COPY --from=build /app/packages/server/node_modules packages/server/node_modules
COPY --from=build /app/packages/server/dist packages/server/dist
COPY LICENSE ./
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.SERVER_PORT || 8080) + '/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "packages/server/dist/main.js"]
