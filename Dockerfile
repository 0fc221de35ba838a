# syntax=docker/dockerfile:1
#
# PassCom company server (and the demo-data loader) in one image.
#   docker build -t passcom:local .
#   docker run --rm -e PASSCOM_AIRLINE=a -e DATABASE_URL=postgres://... passcom:local
#   docker run --rm --entrypoint passcom-seed passcom:local --database-url URL --airline a

ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---------------------------------------------------------------------------------------------
# Builder: compiles passcom-server and passcom-seed. Dependencies are cached across builds with
# BuildKit cache mounts (registry, git checkouts, target dir); the target dir lives only in the
# cache mount, so the binaries are copied out of it inside the same RUN step.
# ---------------------------------------------------------------------------------------------
FROM rust:${RUST_VERSION}-slim-${DEBIAN_RELEASE} AS builder
WORKDIR /app
ENV CARGO_TERM_COLOR=never \
    CARGO_INCREMENTAL=0 \
    CARGO_TARGET_DIR=/app/target

# Workspace manifests and config first, then every member (cargo needs all members' manifests,
# tools included). migrations/ is embedded into the server at compile time (embed_migrations!),
# and seed/*.json into the seed loader (include_str!).
COPY Cargo.toml Cargo.lock rustfmt.toml clippy.toml ./
COPY shared ./shared
COPY server ./server
COPY seed ./seed
COPY tools ./tools
COPY migrations ./migrations

RUN --mount=type=cache,id=passcom-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=passcom-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=passcom-target,target=/app/target,sharing=locked \
    cargo build --release --locked -p passcom-server -p passcom-seed \
 && mkdir -p /out \
 && cp /app/target/release/passcom-server /app/target/release/passcom-seed /out/

# ---------------------------------------------------------------------------------------------
# Runtime: glibc + ca-certificates (+ curl for the health check), non-root user.
# ---------------------------------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime

RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/*

# The keys directory exists in the image and belongs to the service user, so an empty named
# volume mounted there starts with that ownership and the server can write its key on first start.
RUN groupadd --system --gid 10001 passcom \
 && useradd --system --uid 10001 --gid passcom --home-dir /var/lib/passcom --shell /usr/sbin/nologin passcom \
 && mkdir -p /var/lib/passcom/keys \
 && chown -R passcom:passcom /var/lib/passcom \
 && chmod 0700 /var/lib/passcom/keys

COPY --from=builder /out/passcom-server /out/passcom-seed /usr/local/bin/

ENV PASSCOM_BIND=0.0.0.0:8000 \
    PASSCOM_SIGNING_KEY=/var/lib/passcom/keys/server.pem \
    RUST_LOG=info

USER passcom:passcom
WORKDIR /var/lib/passcom
EXPOSE 8000

# Liveness only; docker-compose.yml overrides this with the readiness probe (/readyz).
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD curl -fsS -o /dev/null http://127.0.0.1:8000/healthz || exit 1

ENTRYPOINT ["passcom-server"]
