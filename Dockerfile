# hub-guard: a drop-in configurable-http-proxy for JupyterHub.
# Build: docker build -t hub-guard .
# Run:   docker run -p 8000:8000 -e CONFIGPROXY_AUTH_TOKEN=… hub-guard          (the proxy; API on 127.0.0.1:8001)
#        docker run hub-guard maintenance status | watch … | doctor … | backup …
# On zero-to-jupyterhub, name this image in proxy.chp.image: the chart runs `configurable-http-proxy --ip= --api-ip= …`
# in it, and that command is hub-guard here.
#
# Node 24 is an LTS line (security fixes until 2028-04-30) that the pinned better-sqlite3 12.6.2 supports (its
# engines: 20.x to 25.x; Node 26 needs 12.10.0 or later). Debian 13 trixie is Debian's stable release, patched by
# its security team until 2028-08, past Node 24's end; bookworm went to the narrower LTS team in June 2026. Both
# stages use the same image: the addon compiled in the first, with trixie's g++, is linked against the glibc and
# libstdc++ of the second.
FROM node:24-trixie-slim AS build
WORKDIR /app
# better-sqlite3 compiles its addon from source when no prebuilt binary can be fetched
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
# tsc writes 0644; the configurable-http-proxy and hub-guard links run cli.js through its shebang
RUN npx tsc -p tsconfig.json && chmod 0755 dist/src/cli.js && npm prune --omit=dev

FROM node:24-trixie-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist/src ./dist/src
COPY package.json ./
# The state dir is used by whichever uid the orchestrator picks: 65534 in the chart's proxy pod, 1000 in its hub pod,
# an arbitrary uid with gid 0 on OpenShift. Like /tmp it is world-writable and sticky: hub-guard writes its files
# 0600, so one uid can neither read nor replace another's. A volume mounted there (or a read-only root) overrides it.
# The links are in /usr/local/bin, beside node itself, so they are on the image's PATH.
RUN mkdir -p /var/lib/hub-guard && chmod 1777 /var/lib/hub-guard \
 && ln -s /app/dist/src/cli.js /usr/local/bin/hub-guard \
 && ln -s /app/dist/src/cli.js /usr/local/bin/configurable-http-proxy
# numeric, so that Kubernetes can verify runAsNonRoot; 65534 is what the chart runs its proxy container as
USER 65534:65534
# 8001 answers only where --api-ip opens it (the chart passes --api-ip=); by default the API stays on 127.0.0.1
EXPOSE 8000 8001
ENTRYPOINT ["node", "/app/dist/src/cli.js"]
# the public side listens on every interface (CHP's --ip default, IPv6 included)
CMD ["--port", "8000", "--api-ip", "127.0.0.1", "--api-port", "8001", "--state-dir", "/var/lib/hub-guard"]
