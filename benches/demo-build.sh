#!/usr/bin/env bash
# Fresh builds of what scripts/demo builds, one profile after another, each
# into an empty target folder: what the person running the README's first
# command waits for before the apply. Results go to BENCHMARKS.md.
#
#   bash benches/demo-build.sh [OUT_DIR]      (default /tmp/kb-demo-build)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-/tmp/kb-demo-build}
mkdir -p "$out"
for mode in dev release dev-aws-lc-o3; do
  dir="$out/target-$mode"
  rm -rf "$dir"
  start=$(date +%s)
  case $mode in
    dev) CARGO_TARGET_DIR=$dir cargo build --locked -q -p k8s-bootstrap-cli -p k8s-bootstrap-testbed ;;
    release) CARGO_TARGET_DIR=$dir cargo build --locked -q --release -p k8s-bootstrap-cli -p k8s-bootstrap-testbed ;;
    dev-aws-lc-o3) CARGO_TARGET_DIR=$dir CARGO_PROFILE_DEV_PACKAGE_aws_lc_sys_OPT_LEVEL=3 \
                     cargo build --locked -q -p k8s-bootstrap-cli -p k8s-bootstrap-testbed ;;
  esac
  echo "$mode $(( $(date +%s) - start )) s"
  rm -rf "$dir"
done
