# sessiond: build on Debian 12, run on Debian 12 slim with only the runtime
# libraries. Data lives in the /data volume (one directory per session).
FROM debian:12 AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        gcc libc6-dev libsqlite3-dev libwebsockets-dev libjansson-dev meson ninja-build pkg-config \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY meson.build ./
COPY src ./src
COPY migrations ./migrations
COPY schema ./schema
RUN meson setup /build --buildtype=release && ninja -C /build sessiond

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        libsqlite3-0 libwebsockets17 libjansson4 sqlite3 curl ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --home /data --uid 10001 sessiond \
    && mkdir -p /data && chown sessiond /data
COPY --from=build /build/sessiond /usr/local/bin/sessiond
USER sessiond
VOLUME /data
ENV HOST=0.0.0.0 PORT=5560 DATA_DIR=/data
EXPOSE 5560
HEALTHCHECK --interval=30s --timeout=3s CMD curl -fsS http://127.0.0.1:5560/healthz || exit 1
# SIGTERM triggers the graceful shutdown and final save; give it time.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/sessiond"]
