# The gateway image: a static Go build on a distroless base.
#   docker build -t codingbrain/gateway .
#   docker run -p 127.0.0.1:8080:8080 -e GATEWAY_JWT_SECRET=... codingbrain/gateway
# docker-compose.yml builds it and wires the backing services.

FROM golang:1.26 AS build
WORKDIR /src
# Module downloads first, so source edits do not invalidate that layer.
COPY go.mod go.sum ./
RUN go mod download
COPY . .
# Pure Go (no cgo): the binary runs on a base image without libc.
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/gateway .

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/gateway /usr/local/bin/gateway
ENV GATEWAY_ADDR=:8080
EXPOSE 8080
USER nonroot:nonroot
ENTRYPOINT ["/usr/local/bin/gateway"]
CMD ["serve"]
