# A Cairn node image with nothing in it but the static binary.
#
# Built by "make image" from the binary the host's Go toolchain makes
# (CGO_ENABLED=0, so it needs no libc): no base image is pulled, and the
# build context is only build/image/ (the binary and an empty data/), not
# the repository.
#
#   make image                      # cairn:dev (IMAGE=... to name it)
#   docker run --rm cairn:dev version
#
# No HEALTHCHECK: an orchestrator probes /livez and /readyz on the HTTP port
# (deploy/kubernetes/), and Compose needs none to start the nodes.
FROM scratch

# The node runs as an unprivileged numeric user (no /etc/passwd in a
# scratch image, so a name could not be resolved). 65532 is distroless's
# "nonroot".
COPY --chown=65532:65532 data /data
COPY cairn /cairn

USER 65532:65532
VOLUME ["/data"]
# RESP (Redis), gRPC (peers and clients), HTTP (/v1, /metrics, /livez, /readyz)
EXPOSE 6379 7379 8379
ENV CAIRN_DATA_DIR=/data
ENTRYPOINT ["/cairn"]
CMD ["server", "--help"]
