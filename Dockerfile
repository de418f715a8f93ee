# syntax=docker/dockerfile:1
# Multi-stage build: compile raincast in the Rust image, run it in slim Debian.
# The release workflow (.github/workflows/release.yml) builds this file for
# linux/amd64 and linux/arm64 and publishes it to ghcr.io.
FROM rust:1.95-slim-bookworm AS build
WORKDIR /src
# Dependencies first, so source changes do not rebuild them: a dummy crate
# with the real manifest and lock file compiles every dependency once.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && echo '' > src/lib.rs \
    && (cargo build --release --locked || true) \
    && rm -rf src
# Then the whole build context (.dockerignore leaves out target/, .git and
# local databases): the sources, build.rs if there is one, and what the
# binary embeds at compile time (data/, templates/, static/).
COPY . .
ENV CARGO_PROFILE_RELEASE_STRIP=symbols
RUN touch src/main.rs src/lib.rs && cargo build --release --locked \
    && install -D -m 0755 target/release/raincast /out/raincast

FROM debian:bookworm-slim
# TLS roots are built into the binary (rustls + webpki-roots); curl is for
# HEALTHCHECK only. Bookworm keeps curl at upstream 7.88.1 for its whole
# life; the glob takes Debian's security updates of it (an exact
# 7.88.1-10+deb12uN vanishes from the mirror with the next one, which would
# break the build).
RUN apt-get update \
    && apt-get install -y --no-install-recommends 'curl=7.88.1-10+deb12u*' \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 raincast \
    && useradd --system --uid 10001 --gid 10001 --home-dir /data --shell /usr/sbin/nologin raincast \
    && mkdir -p /data && chown 10001:10001 /data
COPY --from=build /out/raincast /usr/local/bin/raincast
COPY config.toml /etc/raincast/config.toml
USER 10001:10001
WORKDIR /data
VOLUME ["/data"]
ENV RAINCAST_CONFIG=/etc/raincast/config.toml \
    RAINCAST_DATABASE__PATH=/data/raincast.db \
    RAINCAST_SERVER__BIND=0.0.0.0:8080
EXPOSE 8080
# Any non-zero exit (curl's 7 or 22) marks the container unhealthy.
HEALTHCHECK --interval=30s --timeout=3s --start-period=20s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/raincast"]
CMD ["serve"]
