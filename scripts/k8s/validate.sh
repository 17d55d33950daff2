#!/usr/bin/env bash
# Validates the recipe's manifests (scripts/k8s/*.yaml) against the Kubernetes API schemas,
# offline: the pip package kubernetes-validate carries the schemas of Kubernetes 1.25 to 1.37 in
# itself, so no cluster and no schema download is needed. Strict: an unknown field is an error.
# Installs the package (pinned) into a virtualenv under target/ on first use: that pip install
# is the only network access. Then checks run.sh's shell syntax.
#
#   scripts/k8s/validate.sh [KUBERNETES_VERSIONS]   e.g. scripts/k8s/validate.sh "1.29.0 1.37.0"
set -euo pipefail
cd "$(dirname "$0")/../.."
versions=${1:-"1.27.0 1.37.0"}
venv=${CARGO_TARGET_DIR:-target}/k8s-validate-venv
if [[ ! -x $venv/bin/kubernetes-validate ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "kubernetes-validate==1.37.0"
fi
for version in $versions; do
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" scripts/k8s/*.yaml
  echo "scripts/k8s/*.yaml: valid for Kubernetes $version (strict)"
done
bash -n scripts/k8s/run.sh
echo "scripts/k8s/run.sh: shell syntax ok"
