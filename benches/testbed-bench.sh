# Sourced by the bench scripts that time the CLI on the 3 test hosts of
# examples/testbed-cluster.yaml (apply-ours.sh, floor.sh): checks for root,
# builds the release CLI and testbed, makes the PKI once in a work folder
# ($work/pki), and on exit takes the testbed down (while $up is set) and
# removes the work folder. Sets root, bin, spec, tb, work, up.
[ "$(id -u)" = 0 ] || { echo "$0: run as root (the test hosts need it)" >&2; exit 2; }
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
cargo build -q --release -p k8s-bootstrap-cli -p k8s-bootstrap-testbed
bin=$root/target/release
spec=examples/testbed-cluster.yaml
tb=/run/k8s-bootstrap-testbed
work=$(mktemp -d)
up=
cleanup() { if [ -n "$up" ]; then "$bin/k8s-bootstrap-testbed" down >/dev/null 2>&1 || true; fi; rm -rf "$work"; }
trap cleanup EXIT
"$bin/k8s-bootstrap" certs generate --spec "$spec" --pki-dir "$work/pki" -q >/dev/null
