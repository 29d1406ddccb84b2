# Multi-stage build of both binaries; the runtime image holds only them, as a non-root user.
# Not built on the development machine (no Docker engine there): see the README.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
ENV SQLX_OFFLINE=true
RUN cargo build --release -p pulseboard-server -p pulseboard-worker \
 && cp target/release/pulseboard-server target/release/pulseboard-worker /usr/local/bin/

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /var/lib/pulseboard pulseboard
COPY --from=build /usr/local/bin/pulseboard-server /usr/local/bin/pulseboard-worker /usr/local/bin/
USER pulseboard
WORKDIR /var/lib/pulseboard
ENV PULSEBOARD_BIND=0.0.0.0:8000 PULSEBOARD_DATA_DIR=/var/lib/pulseboard/data
EXPOSE 8000
CMD ["pulseboard-server"]
