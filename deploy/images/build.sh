#!/usr/bin/env bash
# Builds every container image of deploy/docker/Dockerfile with buildah, no registry and no Docker engine needed:
#   bash deploy/images/build.sh [TARGET...]        (no TARGET: every target of the Dockerfile)
# 1. The two Debian 12 base images, made from Debian packages with mmdebstrap (skipped when already present):
#      localhost/food-saga-base/debian:12        minbase, for the build stage      (--build-arg DEBIAN_IMAGE)
#      localhost/food-saga-base/debian:12-slim   minbase without docs, man pages and translations, for the
#                                                runtime stage                       (--build-arg RUNTIME_IMAGE)
# 2. Each target with `buildah bud --isolation chroot --layers --target <t>`, tagged food-saga/<t>:<version>
#    (localhost/food-saga/<t>:<version> in buildah's store); --layers caches the build stage, so it compiles
#    once for all targets.
# The context is a snapshot of the committed tree (git archive HEAD), so an image is one commit and a file
# edited meanwhile cannot change half the images; IMAGE_CONTEXT=worktree builds the working tree instead
# (with deploy/docker/Dockerfile.dockerignore).
# Environment: IMAGE_TAG (default: meson.build's project version), DEBIAN_MIRROR (default
# http://deb.debian.org/debian), DEBIAN_IMAGE / RUNTIME_IMAGE (other base images, e.g. docker.io/library/debian:12
# where a registry is reachable; then no base is made here), BASE_REBUILD=1 (make the bases again).
# Needs root and the Debian packages buildah and mmdebstrap. Prints one line per image: name, id, size.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
here=deploy/images
dockerfile=deploy/docker/Dockerfile

for cmd in buildah mmdebstrap git; do
        command -v "$cmd" >/dev/null || { echo "build: no $cmd command: apt-get install buildah mmdebstrap" >&2; exit 1; }
done
[ "$(id -u)" -eq 0 ] || { echo "build: run as root (buildah's chroot isolation and mmdebstrap need it)" >&2; exit 1; }

tag=${IMAGE_TAG:-$(sed -n "s/^ *version: '\([^']*\)'.*/\1/p" meson.build | head -1)}
[ -n "$tag" ] || { echo "build: no project version in meson.build; set IMAGE_TAG" >&2; exit 1; }
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-${mirror%/debian}/debian-security}
base_build=localhost/food-saga-base/debian:12
base_run=localhost/food-saga-base/debian:12-slim

# Every stage named with AS, except the two shared ones: the images to make.
mapfile -t all < <(sed -n 's/^FROM[[:space:]].*[[:space:]]AS[[:space:]]\+\([a-z0-9-]*\).*/\1/ip' "$dockerfile" |
        grep -vx -e build -e runtime)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
for t in "${targets[@]}"; do
        printf '%s\n' "${all[@]}" | grep -qx -- "$t" || { echo "build: $dockerfile has no target $t (${all[*]})" >&2; exit 2; }
done

work=$(mktemp -d /var/tmp/food-saga-images.XXXXXX)
trap 'rm -rf "$work"' EXIT

# make_base NAME [mmdebstrap options...]: a Debian 12 root (minbase: Essential, apt and the 'required' packages)
# as a one-layer image; the apt sources in it are the mirror's bookworm, bookworm-updates and bookworm-security,
# and apt keeps no downloaded package (apt-clean.conf, as Debian's official images do).
make_base() {
        local name=$1; shift
        # The recipe (options, mirror, apt-clean.conf, this function) as a label: a changed recipe makes it again.
        local recipe
        recipe=$({ printf '%s\n' "$@" "$mirror" "$security"; cat "$here/apt-clean.conf"; declare -f make_base; } |
                sha256sum | cut -c1-16)
        if [ -z "${BASE_REBUILD:-}" ] && [ "$(buildah inspect --type image \
                --format '{{index .OCIv1.Config.Labels "food-saga.base-recipe"}}' "$name" 2>/dev/null)" = "$recipe" ]; then
                echo "build: base $name present"
                return
        fi
        local start=$SECONDS ctr
        echo "build: making base $name with mmdebstrap (mirror $mirror)"
        # merged-usr hook: /usr merged by symlinks up front, not by the usrmerge package (which pulls in perl).
        mmdebstrap --quiet --variant=minbase --format=tar "$@" \
                --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
                --customize-hook="upload $here/apt-clean.conf /etc/apt/apt.conf.d/docker-clean" \
                --customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/log/apt/* "$1"/var/log/dpkg.log' \
                bookworm "$work/base.tar" \
                "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main" \
                >"$work/mmdebstrap.log" 2>&1 || { tail -30 "$work/mmdebstrap.log" >&2; echo "build: mmdebstrap failed" >&2; exit 1; }
        ctr=$(buildah from scratch)
        buildah add --quiet "$ctr" "$work/base.tar" / >/dev/null
        buildah config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin --cmd /bin/bash \
                --label org.opencontainers.image.description="Debian 12 minbase made by $here/build.sh" \
                --label food-saga.base-recipe="$recipe" "$ctr"
        buildah commit --quiet --rm "$ctr" "$name" >/dev/null
        rm -f "$work/base.tar"
        echo "build: base $name made in $((SECONDS - start)) s"
}

if [ -z "${DEBIAN_IMAGE:-}" ]; then
        make_base "$base_build"
        DEBIAN_IMAGE=$base_build
fi
if [ -z "${RUNTIME_IMAGE:-}" ]; then
        # What debian:12-slim leaves out, kept out of later apt-get installs too (dpkg.cfg.d stays in the image).
        make_base "$base_run" \
                --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
                --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/info/*' \
                --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/lintian/*'
        RUNTIME_IMAGE=$base_run
fi

if [ "${IMAGE_CONTEXT:-commit}" = worktree ]; then
        context=.
        echo "build: context is the working tree"
else
        context=$work/src
        mkdir -p "$context"
        git archive HEAD | tar -x -C "$context"
        echo "build: context is commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- . 2>/dev/null || echo ' (the working tree has uncommitted changes, not in the images)')"
fi

for t in "${targets[@]}"; do
        start=$SECONDS
        if ! buildah bud --isolation chroot --layers --pull=false \
                -f "$context/$dockerfile" --ignorefile "$context/$dockerfile.dockerignore" \
                --build-arg DEBIAN_IMAGE="$DEBIAN_IMAGE" --build-arg RUNTIME_IMAGE="$RUNTIME_IMAGE" \
                --target "$t" -t "food-saga/$t:$tag" "$context" >"$work/bud.log" 2>&1; then
                tail -40 "$work/bud.log" >&2
                echo "build: image $t failed" >&2
                exit 1
        fi
        echo "build: food-saga/$t:$tag in $((SECONDS - start)) s"
done
for t in "${targets[@]}"; do
        buildah images --format '{{.Name}}:{{.Tag}} {{.ID}} {{.Size}}' "localhost/food-saga/$t:$tag"
done
