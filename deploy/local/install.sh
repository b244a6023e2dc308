#!/usr/bin/env bash
# Installs the Debian packages of deploy/local/packages-build.txt, packages-run.txt and packages.txt that are
# missing (nothing when all are present), then checks that every command of deploy/local/commands.txt exists.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' \
        "$here/packages-build.txt" "$here/packages-run.txt" "$here/packages.txt" | sed '/^$/d' | sort -u)

# A package counts as present when it is installed or an installed package provides it
# (e.g. a nodejs build that bundles npm and conflicts with Debian's npm package).
present=$(dpkg-query -W -f='${db:Status-Abbrev} ${Package} ${Provides}\n' 2>/dev/null |
        awk '$1 == "ii" { for (i = 2; i <= NF; i++) { p = $i; sub(/:.*/, "", p); gsub(/[(),]/, "", p); print p } }' | sort -u)
missing=()
for p in "${wanted[@]}"; do
        grep -qxF -- "$p" <<<"$present" || missing+=("$p")
done
# Every command the scripts and tests call must be there; otherwise the package lists miss its package.
check_commands() {
        local cmd pkg absent=()
        while read -r cmd pkg; do
                command -v "$cmd" >/dev/null 2>&1 || absent+=("$cmd (package $pkg)")
        done < <(sed -e 's/#.*//' "$here/commands.txt" | awk 'NF == 2')
        if [ ${#absent[@]} -gt 0 ]; then
                echo "install: missing after installing: ${absent[*]}; add the package to deploy/local/packages*.txt" >&2
                return 1
        fi
}

if [ ${#missing[@]} -eq 0 ]; then
        echo "install: all ${#wanted[@]} packages present"
        check_commands
        exit
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || { echo "install: missing ${missing[*]}; run as root" >&2; exit 1; }
        sudo=(sudo)
fi
echo "install: installing ${missing[*]}"
# Package scripts must not start system daemons (a second PostgreSQL on 5432, a nats-server on 4222):
# the platform runs its own. policy-rc.d exit 101 means "do not start"; ours is removed afterwards.
policy=/usr/sbin/policy-rc.d
own_policy=0
if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        own_policy=1
fi
trap 'if [ $own_policy = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi' EXIT
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
check_commands
