# hubble-sentinel: a static binary on distroless, non-root. `make image`.
# deploy/dockerfile_test.go runs this build stage's `go build` command.

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -buildvcs=false -ldflags="-s -w" -o /out/hubble-sentinel ./cmd/hubble-sentinel

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/hubble-sentinel /usr/bin/hubble-sentinel
# The bundled policies are embedded in the binary; this copy is a starting
# point for your own (--policies.dir, a ConfigMap, or an OPA bundle).
COPY --from=build /src/policies /usr/share/hubble-sentinel/policies
USER nonroot:nonroot
EXPOSE 9966
ENTRYPOINT ["/usr/bin/hubble-sentinel"]
CMD ["run", "--web.listen-address=:9966"]
