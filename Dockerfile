# syntax=docker/dockerfile:1
# Multi-stage build: compile raincast in the Rust image, run it in slim Debian.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source changes do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && cargo build --release --locked 2>/dev/null || true
COPY src ./src
# The bundled history and BOM archive are compiled into the binary.
COPY data/weatherAUS.csv.gz ./data/weatherAUS.csv.gz
COPY data/bom/bom_dwo_raw_2024-08_2025-09.tar.gz ./data/bom/bom_dwo_raw_2024-08_2025-09.tar.gz
COPY templates ./templates
COPY static ./static
RUN touch src/main.rs src/lib.rs && cargo build --release --locked \
    && strip target/release/raincast

FROM debian:bookworm-slim
# TLS roots are built into the binary (rustls + webpki-roots); curl is for HEALTHCHECK only.
RUN apt-get update && apt-get install -y --no-install-recommends curl \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin raincast \
    && mkdir -p /data && chown raincast:raincast /data
COPY --from=build /src/target/release/raincast /usr/local/bin/raincast
COPY config.toml /etc/raincast/config.toml
USER raincast
WORKDIR /data
VOLUME ["/data"]
ENV RAINCAST_CONFIG=/etc/raincast/config.toml \
    RAINCAST_DATABASE__PATH=/data/raincast.db \
    RAINCAST_SERVER__BIND=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS http://127.0.0.1:8080/healthz || exit 1
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/raincast"]
CMD ["serve"]
