# syntax=docker/dockerfile:1
# The kubetally collector image: `kubetally collect` on distroless, non-root.
#
#   docker build \
#     --build-arg VERSION=0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" \
#     --build-arg CREATED="$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
#     -t registry.example.com/kubetally:0.1.0-"$(git rev-parse --short=7 HEAD)" .
#
# The tag is <semver>-<commit>, never latest; deploy/ references it
# (deploy/README.md, "Releasing").

# Builder: the official Rust image on Debian 12 (bookworm), the same Debian
# as the runtime below, so the binary links against the glibc it runs with.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
# The collector only: --no-default-features leaves out the `analyze` feature
# (polars: query, report, recommend). --locked builds exactly Cargo.lock.
# .ci/run runs this same command, so CI proves it compiles and links.
# The `dist` profile is fully optimised (`release` is tuned for a fast
# first build, Cargo.toml) and has no debug info; the image strips what is
# left of it and keeps the symbols, so a panic still names its functions.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked --no-default-features --bin kubetally \
    && install -D -m 0755 target/dist/kubetally /out/kubetally \
    && strip --strip-debug /out/kubetally

# Runtime: distroless with glibc and libgcc (cc), no shell, no package
# manager, running as the nonroot user (65532).
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="kubetally" \
      org.opencontainers.image.description="Kubernetes cost and usage metering collector: priced, hourly Parquet to object storage or a volume" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.source="https://example.com/kubetally" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"
COPY --from=build /out/kubetally /usr/local/bin/kubetally
USER 65532:65532
# /metrics, /healthz, /readyz
EXPOSE 9090
ENTRYPOINT ["/usr/local/bin/kubetally", "collect"]
