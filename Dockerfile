# sessiond: build on Debian 12, run on Debian 12 slim with only the runtime
# libraries. Data lives in the /data volume (one directory per session).
# The image holds the server, sessionctl (the operator's tool) and
# cron-backup. tests/integration/test_deploy.py runs the build stage's
# commands and checks the points below.
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev libsqlite3-dev libwebsockets-dev libjansson-dev libssl-dev meson ninja-build \
        pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY meson.build meson_options.txt ./
COPY src ./src
COPY migrations ./migrations
COPY schema ./schema
COPY web ./web
COPY tools/sessionbench ./tools/sessionbench
RUN meson setup /build --buildtype=release && ninja -C /build sessiond sessionctl

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libsqlite3-0 libwebsockets17 libjansson4 libssl3 sqlite3 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data --uid 10001 sessiond \
    && mkdir -p /data && chown sessiond /data
COPY --from=build /build/sessiond /build/sessionctl /usr/local/bin/
COPY tools/cron-backup /usr/local/bin/cron-backup
USER sessiond
VOLUME /data
# Settings are environment variables (see .env.example); an empty one counts
# as unset, so SERVER_PASSWORD= or ADMIN_PASSWORD= left empty is no password.
# No setting is passed as a flag here: an empty flag value would be an error.
ENV HOST=0.0.0.0 PORT=5560 DATA_DIR=/data
EXPOSE 5560
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s \
    CMD curl -fsS "http://127.0.0.1:${PORT}/healthz" || exit 1
# SIGTERM: graceful shutdown with a final save of every session; give it
# time (docker stop -t, compose stop_grace_period).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sessiond"]
