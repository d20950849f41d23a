# Small conveniences; "go build ./cmd/cairn" and "go test ./..." need none of it.

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
IMAGE   ?= cairn:dev
LDFLAGS := -s -w -X github.com/cairnkv/cairn/internal/buildinfo.version=$(VERSION)

.PHONY: build image test clean

# build: ./cairn for this machine.
build:
	go build -trimpath -ldflags "$(LDFLAGS)" -o cairn ./cmd/cairn

# image: a FROM-scratch image around a static binary built here (no base
# image is pulled; see Dockerfile).
image:
	rm -rf build/image && mkdir -p build/image/data
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o build/image/cairn ./cmd/cairn
	docker build -q -t $(IMAGE) -f Dockerfile build/image

test:
	go test -race ./... && go test -race -tags e2e -p 1 ./e2e/

clean:
	rm -rf build cairn
