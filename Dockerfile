# lookout's image: the static binary, CA certificates and time zone data on
# an empty base, run as a non-root numeric user with its data in /data.
#
#   docker build -t lookout \
#     --build-arg VERSION="$(git describe --tags --always)" \
#     --build-arg COMMIT="$(git rev-parse HEAD)" .
#
# Plain Dockerfile syntax, so that both BuildKit and the classic builder
# build it. GO_IMAGE is the build stage: the official Go image of go.mod's
# Go (deploy/docker_test.go checks that the two agree). A machine without a
# registry builds with a local image passed as --build-arg GO_IMAGE=..., as
# the tests do.
ARG GO_IMAGE=golang:1.26

FROM ${GO_IMAGE} AS build
WORKDIR /src
# Modules first, in their own layer, so that a source change reuses them.
# GOPROXY: a module proxy of your own (a company's, Athens); unset, Go's
# default. The tests point it at this machine's module cache.
ARG GOPROXY
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG COMMIT=
# /out/data becomes /data: made here, owned by the numeric user, because
# the final stage has no shell to make it. A new named volume takes its
# owner and mode from it, so lookout can write there without root.
RUN CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" \
        -o /out/lookout ./cmd/lookout \
    && mkdir -p /out/data \
    && chown 65532:65532 /out/data \
    && chmod 0700 /out/data

FROM scratch
ARG VERSION=dev
ARG COMMIT=
LABEL org.opencontainers.image.title="lookout" \
      org.opencontainers.image.description="Self-hosted observability in one binary: OTLP logs, traces and metrics, search, PromQL and alerting" \
      org.opencontainers.image.source="https://github.com/lookout-dev/lookout" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${COMMIT}"
# Webhooks (Slack, Teams, PagerDuty) are HTTPS: Go reads this bundle.
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# Go's own copy of the time zone database, which every Go toolchain has
# (a Debian image's /usr/share/zoneinfo is optional); ZONEINFO points
# Go's time package at it.
COPY --from=build /usr/local/go/lib/time/zoneinfo.zip /usr/share/zoneinfo.zip
COPY --from=build --chown=65532:65532 /out/data /data
COPY --from=build /out/lookout /lookout
# TMPDIR: the root file system may be read-only (docker run --read-only),
# so anything temporary (SQLite's spill files) goes to the data volume.
# LOOKOUT_SHUTDOWN_TIMEOUT: within docker stop's default 10 s before it
# sends SIGKILL.
ENV LOOKOUT_DATA_DIR=/data \
    TMPDIR=/data \
    ZONEINFO=/usr/share/zoneinfo.zip \
    LOOKOUT_SHUTDOWN_TIMEOUT=8s
USER 65532:65532
VOLUME /data
# UI, API, health and self-metrics; OTLP/gRPC; OTLP/HTTP.
EXPOSE 8080 4317 4318
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/lookout", "healthcheck"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["/lookout"]
CMD ["serve"]
