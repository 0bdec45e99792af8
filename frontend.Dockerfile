# kiln's BuildKit frontend image: a static kiln binary alone in a scratch image.
#
# Two ways to fill it:
#   - `--target packaged`: copies an already-built static binary from the context
#     (`_out/kiln-linux-$TARGETARCH`, see hack/frontend-image.sh). It only uses `scratch` and the
#     context, so it needs no image pull; that is how local builds and tests make `kiln:dev`.
#   - default target (`release`): builds kiln from source for linux/amd64 and linux/arm64 (cross-
#     compiling on the build platform), for CI with network access that publishes the image.
# No syntax directive on purpose: the Dockerfile frontend built into BuildKit is used, so nothing is
# pulled to parse this file.

ARG RUST_IMAGE=docker.io/library/rust:1-bookworm

# Everything the frontend image carries besides the binary, shared by both ways of building it.
FROM scratch AS frontend-base
LABEL moby.buildkit.frontend.network.none="true"
LABEL moby.buildkit.frontend.caps="moby.buildkit.frontend.inputs,moby.buildkit.frontend.subrequests,moby.buildkit.frontend.contexts"
ENTRYPOINT ["/kiln", "frontend"]

FROM frontend-base AS packaged
ARG TARGETARCH
ARG KILN_BINARY=_out/kiln-linux-${TARGETARCH}
COPY ${KILN_BINARY} /kiln

# From source. Runs on the build platform and cross-compiles, because building under emulation is
# far too slow. glibc with crt-static gives a binary with no loader or library dependencies.
FROM --platform=$BUILDPLATFORM ${RUST_IMAGE} AS build
ARG TARGETARCH
ARG BUILDARCH
RUN set -eu; \
    case "$TARGETARCH" in \
      amd64) triple=x86_64-unknown-linux-gnu; cc=x86_64-linux-gnu-gcc; pkgs="gcc-x86-64-linux-gnu libc6-dev-amd64-cross" ;; \
      arm64) triple=aarch64-unknown-linux-gnu; cc=aarch64-linux-gnu-gcc; pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross" ;; \
      *) echo "frontend.Dockerfile: unsupported TARGETARCH '$TARGETARCH' (use linux/amd64 or linux/arm64)" >&2; exit 1 ;; \
    esac; \
    : > /tmp/cross.env; \
    if [ "$TARGETARCH" != "$BUILDARCH" ]; then \
      apt-get update; \
      apt-get install -y --no-install-recommends $pkgs; \
      rm -rf /var/lib/apt/lists/*; \
      echo "CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_LINKER=$cc" > /tmp/cross.env; \
    fi; \
    echo "$triple" > /tmp/triple; \
    rustup target add "$triple"
WORKDIR /src
COPY . .
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target,id=kiln-target-$TARGETARCH \
    set -eu; \
    triple=$(cat /tmp/triple); \
    set -a; . /tmp/cross.env; set +a; \
    RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --locked --bin kiln --target "$triple"; \
    cp "target/$triple/release/kiln" /kiln

FROM frontend-base AS release
COPY --from=build /kiln /kiln
