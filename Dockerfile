# hub-guard: a drop-in configurable-http-proxy for JupyterHub.
# Build: docker build -t hub-guard .   Run: docker run -p 8000:8000 -p 8001:8001 -e CONFIGPROXY_AUTH_TOKEN=… hub-guard
FROM node:20-bookworm-slim AS build
WORKDIR /app
# better-sqlite3 builds a native addon
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
RUN npx tsc -p tsconfig.json && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
RUN mkdir -p /var/lib/hub-guard && chown node:node /var/lib/hub-guard
USER node
EXPOSE 8000 8001
ENTRYPOINT ["node", "/app/dist/src/cli.js"]
CMD ["--ip", "0.0.0.0", "--api-ip", "0.0.0.0", "--state-dir", "/var/lib/hub-guard"]
