# syntax=docker/dockerfile:1

# entityconn container image: a static binary on distroless (no shell, runs as nonroot).
#
#   docker build -t entityconn .
#   docker run --rm -p 127.0.0.1:8080:8080 entityconn          # embedded NATS, demo directory
#
# With no --nats-url the embedded NATS server keeps its store in --data (default ./data,
# i.e. /home/nonroot/data here); mount a volume there to keep it across restarts.

ARG GO_VERSION=1.26.8

FROM golang:${GO_VERSION}-bookworm AS build
WORKDIR /src
ENV CGO_ENABLED=0 GOFLAGS=-mod=readonly
# Dependencies in their own layer: rebuilt only when go.mod or go.sum change.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod \
    go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod \
    --mount=type=cache,target=/root/.cache/go-build \
    go build -trimpath -ldflags="-s -w" -o /out/entityconn ./cmd/entityconn

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/entityconn /entityconn
WORKDIR /home/nonroot
USER nonroot:nonroot
EXPOSE 8080
ENTRYPOINT ["/entityconn"]
CMD ["serve", "--http", "0.0.0.0:8080"]
