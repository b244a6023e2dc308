#!/usr/bin/env bash
# The container images' test, one command (root; Debian packages buildah, mmdebstrap, nats-server, PostgreSQL, node):
#   bash test/images/run.sh
# 1. Builds every image with deploy/images/build.sh (base images and build stage cached between runs).
# 2. Checks, in each image (buildah run), that every shared library of every program in /usr/local/bin resolves.
# 3. Mounts each image's file system (buildah from + buildah mount) and runs the platform from them for one whole
#    order (test/images/platform.test.mjs): nats-server and PostgreSQL start on loopback as in the other end-to-end
#    tests; every food-saga process is `chroot --userspec=<the image's USER> <mount> <the image's ENTRYPOINT>` with
#    the image's ENV under the harness's environment (wrappers in build-images/, the harness's $BUILD_DIR).
# 4. Prints each image's size. Ends with "N passed, N failed" like test/run-all.sh.
# Logs: build-images/test-logs/images/ (one per process). SKIP_BUILD=1 tests the images already built.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD
dockerfile=deploy/docker/Dockerfile
tag=${IMAGE_TAG:-$(sed -n "s/^ *version: '\([^']*\)'.*/\1/p" meson.build | head -1)}
passed=0
failed=0
result() { # result NAME OK|FAILED
        if [ "$2" = OK ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
        echo "images: $1 $2"
}

start=$SECONDS
# A fresh Debian 12 machine (CI) has neither tool: the two Debian packages are all the build needs beyond apt.
if ! command -v buildah >/dev/null || ! command -v mmdebstrap >/dev/null; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends buildah mmdebstrap >/dev/null
fi
if [ -z "${SKIP_BUILD:-}" ]; then
        if bash deploy/images/build.sh; then
                result build OK
        else
                result build FAILED
                echo "$passed passed, $failed failed"
                exit 1
        fi
        echo "images: build took $((SECONDS - start)) s"
fi

mapfile -t targets < <(sed -n 's/^FROM[[:space:]].*[[:space:]]AS[[:space:]]\+\([a-z0-9-]*\).*/\1/ip' "$dockerfile" |
        grep -vx -e build -e runtime)

# Where test/harness.mjs looks for each program under $BUILD_DIR: image:program-in-/usr/local/bin
declare -A harness_path=(
        [gateway/gateway]=gateway:gateway
        [orchestrator/orchestrator]=orchestrator:orchestrator
        [orchestrator/sagactl]=orchestrator:sagactl
        [lib/food-setup]=orchestrator:food-setup
        [services/reader/reader]=reader:reader
        [services/payment/payment-worker]=payment-worker:payment-worker
        [services/store/store-worker]=store-worker:store-worker
        [services/delivery/delivery-worker]=delivery-worker:delivery-worker
        [services/notification/notification-worker]=notification-worker:notification-worker
        [services/coupon/coupon-worker]=coupon-worker:coupon-worker
        [services/sandbox-psp/sandbox-psp]=sandbox-psp:sandbox-psp
        [services/sandbox-sink/sandbox-sink]=sandbox-sink:sandbox-sink
)

bdir=$root/build-images
rm -rf "$bdir"
mkdir -p "$bdir"
declare -A ctr mnt
cleanup() {
        for t in "${!ctr[@]}"; do
                buildah umount "${ctr[$t]}" >/dev/null 2>&1 || true
                buildah rm "${ctr[$t]}" >/dev/null 2>&1 || true
        done
}
trap cleanup EXIT

# 2. Shared libraries, and each image mounted.
for t in "${targets[@]}"; do
        img=localhost/food-saga/$t:$tag
        if ! c=$(buildah from --pull-never --name "food-saga-imagetest-$t" "$img" 2>&1); then
                # A container left by an interrupted run: take it again.
                buildah rm "food-saga-imagetest-$t" >/dev/null 2>&1 || true
                c=$(buildah from --pull-never --name "food-saga-imagetest-$t" "$img")
        fi
        ctr[$t]=$c
        out=$(buildah run --isolation chroot "$c" -- sh -c \
                'for b in /usr/local/bin/*; do echo "== $b"; ldd "$b" || echo "ldd failed: $b"; done' 2>&1) || true
        if grep -qE 'not found|ldd failed|not a dynamic' <<<"$out" || ! grep -q '^== ' <<<"$out"; then
                result "ldd-$t" FAILED
                grep -E '^==|not found|failed|not a dynamic' <<<"$out" | sed 's/^/  /'
        else
                result "ldd-$t" OK
        fi
        mnt[$t]=$(buildah mount "$c")
done

# 3. A wrapper per program: the image's ENV as defaults, then chroot into its root as its user.
for hp in "${!harness_path[@]}"; do
        t=${harness_path[$hp]%%:*}
        prog=/usr/local/bin/${harness_path[$hp]#*:}
        img=localhost/food-saga/$t:$tag
        user=$(buildah inspect --type image --format '{{.OCIv1.Config.User}}' "$img")
        [ -n "$user" ] || user=0:0
        mkdir -p "$bdir/$(dirname "$hp")"
        {
                echo '#!/bin/sh'
                echo "# $hp for test/harness.mjs: $prog of image $img, as user $user"
                buildah inspect --type image --format '{{range .OCIv1.Config.Env}}{{println .}}{{end}}' "$img" |
                        while IFS='=' read -r k v; do
                                [ -n "$k" ] || continue
                                if [ "$k" = PATH ]; then printf "export PATH='%s'\n" "$v"
                                else printf "export %s=\"\${%s-%s}\"\n" "$k" "$k" "$v"; fi
                        done
                echo "exec chroot --userspec=$user ${mnt[$t]} $prog \"\$@\""
        } >"$bdir/$hp"
        chmod 0755 "$bdir/$hp"
done
# The entrypoint of each service image is the program the harness starts from it.
for t in "${targets[@]}"; do
        ep=$(buildah inspect --type image --format '{{range .OCIv1.Config.Entrypoint}}{{.}} {{end}}' "localhost/food-saga/$t:$tag")
        case " ${harness_path[*]} " in
        *" $t:$(basename "${ep%% *}") "*) ;;
        *) echo "images: $t's entrypoint '$ep' is not a program the test starts"; failed=$((failed + 1)) ;;
        esac
done

if BUILD_DIR=$bdir node --test --test-reporter=spec test/images/platform.test.mjs; then
        result "platform (one order, every process from its image)" OK
else
        result "platform (one order, every process from its image)" FAILED
        echo "images: process logs in $bdir/test-logs/images/"
fi

# 4. Sizes.
echo "images: sizes"
for t in "${targets[@]}"; do
        buildah images --format '  {{.Name}}:{{.Tag}}  {{.Size}}' "localhost/food-saga/$t:$tag"
done
for b in localhost/food-saga-base/debian:12 localhost/food-saga-base/debian:12-slim; do
        buildah images --format '  {{.Name}}:{{.Tag}}  {{.Size}}  (base)' "$b" 2>/dev/null || true
done
echo "images: took $((SECONDS - start)) s"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
