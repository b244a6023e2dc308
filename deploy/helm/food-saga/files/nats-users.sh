#!/usr/bin/env bash
# Prints what an external NATS needs for a food-saga release (nats.enabled=false): the users and permissions of
# charts/nats/files/auth.conf, to include from its nats.conf, and the environment variables each password comes from
# (FOOD_NATS_PW_<USER>, from the release's Secret), as values for the official NATS chart's container.env.
#   bash deploy/helm/food-saga/files/nats-users.sh [RELEASE [SECRET]]    (defaults: food, <RELEASE>-food-saga-secrets)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
release=${1:-food}
secret=${2:-$release-food-saga-secrets}
auth=$here/charts/nats/files/auth.conf

echo "# --- auth.conf (include it from nats.conf: include ./auth.conf) ---"
cat "$auth"
echo
echo "# --- container.env of the official NATS chart (values.yaml), one per user, from the Secret $secret ---"
echo "container:"
echo "  env:"
grep -o 'password: *\$FOOD_NATS_PW_[A-Z0-9_]*' "$auth" | sed 's/.*\$//' | sort -u | while read -r var; do
        user=$(printf '%s' "${var#FOOD_NATS_PW_}" | tr 'A-Z' 'a-z')
        echo "    $var: {valueFrom: {secretKeyRef: {name: $secret, key: nats-password-$user}}}"
done
