#!/bin/sh
# Builds the Greeter's container image offline: a static binary compiled on
# this machine, copied into an image FROM scratch (examples/greeter/Dockerfile).
#
#   examples/greeter/build-image.sh [IMAGE]
#
# IMAGE defaults to $GREETER_IMAGE, else stateless/greeter:dev. Run it from
# anywhere; it needs go and docker. Other knobs, by environment:
#   GOARCH     the image's architecture (default: this machine's)
#   CA_BUNDLE  the CA certificates to put in the image, for TLS to the store
#              (default /etc/ssl/certs/ca-certificates.crt, from Debian's
#              ca-certificates; add a private CA's certificate to a copy)
# It prints the image name and size last.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
IMAGE=${1:-${GREETER_IMAGE:-stateless/greeter:dev}}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
if [ ! -s "$CA_BUNDLE" ]; then
	echo "build-image.sh: no CA bundle at $CA_BUNDLE: install ca-certificates, or set CA_BUNDLE to a PEM file" >&2
	exit 1
fi
CTX=$(mktemp -d)
trap 'rm -rf "$CTX"' EXIT INT TERM

cd "$ROOT"
CGO_ENABLED=0 GOOS=linux GOARCH=${GOARCH:-$(go env GOARCH)} \
	go build -trimpath -ldflags='-s -w' -o "$CTX/greeter" ./examples/greeter
cp "$CA_BUNDLE" "$CTX/ca-certificates.crt"
cp examples/greeter/Dockerfile "$CTX/Dockerfile"
# No "# syntax=" line in the Dockerfile, so BuildKit, where it is on, pulls nothing either.
docker build -q -t "$IMAGE" "$CTX" >/dev/null
echo "$IMAGE $(docker image inspect --format '{{.Size}}' "$IMAGE") bytes"
