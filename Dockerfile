# syntax=docker/dockerfile:1

# Build with the official Bun image: the same `bun run build` the smoke test runs, producing one
# self-contained executable (node-datachannel's native addon embedded).
FROM oven/bun:1.4.5 AS build
WORKDIR /src
COPY package.json package-lock.json ./
# Bun reads package-lock.json: exactly the versions npm ci installs.
RUN bun install --frozen-lockfile --ignore-scripts
COPY tsconfig.json ./
COPY src ./src
COPY relay ./relay
RUN bun run build && ./dist/ivs-fanout version

# Run on a small glibc base as a non-root user; nothing but the executable and CA certificates.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin ivsfanout
COPY --from=build /src/dist/ivs-fanout /usr/local/bin/ivs-fanout
USER 10001
WORKDIR /home/ivsfanout
# The embedded native addon is unpacked here at start; it must allow exec.
ENV NODE_ENV=production BUN_TMPDIR=/tmp
# serve listens on 3000, relay on 3001 (API_PORT overrides). The relay's WebRTC media uses UDP on
# ephemeral ports: run it with host networking (see docker-compose.yml).
EXPOSE 3000 3001
# SIGTERM is what the graceful stop handles: readiness 503, SHUTDOWN_GRACE_MS (5 s) of answers with
# Connection: close, then finish in-flight requests, WHIP DELETE, exit 0 (inside the default 10 s stop timeout).
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 CMD ["ivs-fanout", "healthcheck"]
ENTRYPOINT ["ivs-fanout"]
CMD ["serve"]
