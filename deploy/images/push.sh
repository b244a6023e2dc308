#!/usr/bin/env bash
# Pushes every image deploy/images/build.sh built to a registry and prints each one's digest:
#   bash deploy/images/push.sh REGISTRY [TAG]        e.g. bash deploy/images/push.sh ghcr.io/acme 0.1.0
# Local food-saga/<target>:<version> (version: meson.build's project version, or IMAGE_TAG) goes to
# REGISTRY/food-saga/<target>:TAG (TAG defaults to that version), the names the chart builds from image.registry
# and image.tag. Log in first (buildah login REGISTRY); PUSH_TLS_VERIFY=false for a plain-HTTP or self-signed one.
# Output, one line per image, for pinning by digest:
#   <target> REGISTRY/food-saga/<target>@sha256:<digest>
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
[ $# -ge 1 ] && [ $# -le 2 ] && [ -n "$1" ] || { echo "usage: $0 REGISTRY [TAG]   (e.g. ghcr.io/acme 0.1.0)" >&2; exit 2; }
registry=${1%/}
version=${IMAGE_TAG:-$(sed -n "s/^ *version: '\([^']*\)'.*/\1/p" meson.build | head -1)}
tag=${2:-$version}
mapfile -t targets < <(sed -n 's/^FROM[[:space:]].*[[:space:]]AS[[:space:]]\+\([a-z0-9-]*\).*/\1/ip' deploy/docker/Dockerfile |
        grep -vx -e build -e runtime)

missing=()
for t in "${targets[@]}"; do
        buildah inspect --type image "localhost/food-saga/$t:$version" >/dev/null 2>&1 || missing+=("$t")
done
[ ${#missing[@]} -eq 0 ] || { echo "push: not built: ${missing[*]} (run deploy/images/build.sh)" >&2; exit 1; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for t in "${targets[@]}"; do
        dest=$registry/food-saga/$t
        buildah push --quiet --tls-verify="${PUSH_TLS_VERIFY:-true}" --digestfile "$work/$t.digest" \
                "localhost/food-saga/$t:$version" "docker://$dest:$tag" >&2
        echo "$t $dest@$(cat "$work/$t.digest")"
done
