#!/usr/bin/env bash
# k8s-bootstrap side by side with the tools its users know, in one run, on
# the same kind of fresh test hosts: 3 hosts of examples/testbed-cluster.yaml
# (etcd01-03, 10.77.0.11-13), new hosts for every tool in every run.
#
# Every tool does the same work, from bare hosts to a healthy 3-member TLS
# etcd with flannel's network config in it, with the same files (the very
# files `k8s-bootstrap render` writes, the same binaries, the same PKI made
# once by `k8s-bootstrap certs generate` before anything is timed):
#   host preparation: hostname; 2379/tcp, 2380/tcp, 8472/udp opened in
#     firewalld (firewall-offline-cmd while firewalld is not running) or ufw;
#     overlay and br_netfilter loaded; ip_forward and bridge-nf-call-ip(6)tables = 1;
#   files: mkdir; etcd, etcdctl, flanneld; 7 certificates and keys under
#     /opt/etcd/ssl and 3 under /opt/kubernetes/ssl (keys 0600); the 9 rendered
#     files (etcd's and flanneld's env files, the etcd, flanneld and docker
#     units, etcdctl-admin, docker's daemon.json, modules-load.d, sysctl.d);
#   install: daemon-reload when a unit changed, etcd's data dir (0700),
#     enable etcd, flanneld and docker;
#   etcd: start etcd on all members, wait until `endpoint health --cluster` passes;
#   flannel-config: write flannel's network config into etcd (v3 API).
# The tools:
#   ours      `k8s-bootstrap apply --phase flannel-config` (a full apply goes
#             on to start flanneld and docker; the peers stop here, so ours does too)
#   replay    benches/peers/tutorial-replay.sh: the tutorial's manual steps
#             with ssh/scp, one host after another (no no-op run: re-running
#             a by-hand procedure is not idempotent)
#   ansible   benches/peers/ansible/etcd.yml, ansible-core's own modules,
#             pipelining on, no fact gathering, 5 forks, OpenSSH ControlPersist
#   pyinfra   benches/peers/pyinfra/deploy.py, `pyinfra -y` (all hosts in parallel)
# Each tool: first run (zero to healthy), then at once a no-op re-run, both
# timed; then checked: the no-op changed nothing (ours: `--output json`
# change count 0; Ansible: changed=0 on every host in the recap; pyinfra:
# no operation changed in `--json` results), the cluster is healthy
# (etcdctl endpoint health --cluster with the admin cert, from this
# machine), flannel's config is in etcd, and `k8s-bootstrap apply --dry-run
# --phase flannel-config` finds nothing to change (every tool left the same
# state). The order of the tools rotates from run to run. Prints each run,
# then one table of medians with the ratio ours / tool (below 1: ours is faster).
#
# Usage (root, after scripts/setup): benches/apply-vs-peers.sh [RUNS]   (default 3)
# Installs ansible-core and pyinfra (benches/peers/requirements.txt, pinned)
# into a venv of its own, $K8S_BOOTSTRAP_CACHE/bench-venv (reused while the
# pins are unchanged; BENCH_VENV overrides). Traffic goes only to the test hosts.
# BENCH_LOGS=DIR keeps every tool's output of every run there.
set -euo pipefail
runs=${1:-3}
[ "$runs" -ge 1 ] 2>/dev/null || { echo "usage: $0 [RUNS]" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "$0: run as root (the test hosts need it), after scripts/setup" >&2; exit 2; }
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
peers=$root/benches/peers
cache=${K8S_BOOTSTRAP_CACHE:-/var/cache/k8s-bootstrap}
venv=${BENCH_VENV:-$cache/bench-venv}
spec=examples/testbed-cluster.yaml
tb=/run/k8s-bootstrap-testbed   # the spec's ssh identity lives here
hosts=(etcd01=10.77.0.11 etcd02=10.77.0.12 etcd03=10.77.0.13)   # the hosts of $spec
export BENCH_ETCD_BIN=/usr/bin/etcd BENCH_ETCDCTL_BIN=/usr/bin/etcdctl BENCH_FLANNELD_BIN=$cache/bin/flanneld   # its binaries
for b in "$BENCH_ETCD_BIN" "$BENCH_ETCDCTL_BIN" "$BENCH_FLANNELD_BIN"; do
  [ -x "$b" ] || { echo "$0: $b is missing: run scripts/setup first" >&2; exit 1; }
done

# --- tools ---
if ! cmp -s "$peers/requirements.txt" "$venv/requirements.txt"; then
  echo "installing ansible-core and pyinfra into $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check -r "$peers/requirements.txt"
  cp "$peers/requirements.txt" "$venv/requirements.txt"
fi
ansible_version=$("$venv/bin/python" -c 'import ansible.release as r; print(r.__version__)')
pyinfra_version=$("$venv/bin/python" -c 'import importlib.metadata as m; print(m.version("pyinfra"))')
cargo build -q --release --locked -p k8s-bootstrap-cli -p k8s-bootstrap-testbed
bin=$root/target/release

# --- work folder, test hosts, teardown ---
work=$(mktemp -d /tmp/apply-vs-peers.XXXXXX)
tb_ours=0   # 1 while test hosts we started are up: never take down someone else's
cleanup() {
  if [ "$tb_ours" = 1 ]; then "$bin/k8s-bootstrap-testbed" down >/dev/null 2>&1 || true; fi
  if [ -n "${BENCH_LOGS:-}" ]; then { mkdir -p "$BENCH_LOGS" && cp "$work"/*-[0-9]* "$BENCH_LOGS"/; } 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

hosts_up() { # waits while another testbed is up (one started by hand refuses a second `up`)
  local out said='' deadline=$((SECONDS + 1800))
  until out=$("$bin/k8s-bootstrap-testbed" up ${#hosts[@]} 2>&1); do
    if [[ $out == *"is running"* ]] && ((SECONDS < deadline)); then
      [ -n "$said" ] || { echo "waiting for another testbed to go down" >&2; said=1; }
      sleep 5
    else
      echo "$out" >&2
      return 1
    fi
  done
  tb_ours=1
}
hosts_down() {
  if [ "$tb_ours" = 1 ]; then
    "$bin/k8s-bootstrap-testbed" down >/dev/null
    tb_ours=0
  fi
}

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
load() { cut -d' ' -f1 /proc/loadavg; }
fail() { # TOOL LOG...: say what failed, show the logs' ends, stop (the trap tears down)
  echo "$1 FAILED; end of its logs:" >&2
  shift
  for f in "$@"; do echo "== $f" >&2; tail -n 40 "$f" >&2 || true; done
  exit 1
}

# --- inputs shared by every tool ---
"$bin/k8s-bootstrap" certs generate --spec "$spec" --pki-dir "$work/pki" -q >/dev/null
"$bin/k8s-bootstrap" render --spec "$spec" --pki-dir "$work/pki" --out "$work/render" -q >/dev/null
first_host=${hosts[0]%%=*}
flannel_config=$(sed -n "s|.*etcdctl-admin put /coreos.com/network/config '\\(.*\\)'; fi\$|\\1|p" "$work/render/$first_host/commands.sh")
[ -n "$flannel_config" ] || { echo "no flannel config in $work/render/$first_host/commands.sh" >&2; exit 1; }
endpoints=$(for h in "${hosts[@]}"; do printf 'https://%s:2379,' "${h#*=}"; done)
endpoints=${endpoints%,}

mkdir -p "$work/ansible"
{
  echo "etcd:"
  echo "  hosts:"
  for h in "${hosts[@]}"; do echo "    ${h%%=*}: { ansible_host: ${h#*=} }"; done
  cat <<YAML
  vars:
    ansible_user: root
    ansible_ssh_private_key_file: $tb/id_ed25519
    ansible_ssh_common_args: "-o UserKnownHostsFile=$tb/known_hosts -o StrictHostKeyChecking=yes"
    render_dir: $work/render
    pki_dir: $work/pki
    etcd_bin: $BENCH_ETCD_BIN
    etcdctl_bin: $BENCH_ETCDCTL_BIN
    flanneld_bin: $BENCH_FLANNELD_BIN
    flannel_config: '$flannel_config'
YAML
} > "$work/ansible/inventory.yml"

# --- one function per tool: sets $first and $noop (seconds; noop "-" when not measured) ---
ours() {
  local log=$work/ours-$r t
  local args=(apply --spec "$spec" --known-hosts "$tb/known_hosts" --pki-dir "$work/pki" --phase flannel-config --output json)
  t=$(now); "$bin/k8s-bootstrap" "${args[@]}" >"$log-1.json" 2>"$log-1.err" || fail ours "$log-1.err"; first=$(since "$t")
  t=$(now); "$bin/k8s-bootstrap" "${args[@]}" >"$log-2.json" 2>"$log-2.err" || fail ours "$log-2.err"; noop=$(since "$t")
  local changed
  changed=$(python3 -c 'import json, sys; print(sum(len(h["changes"]) for h in json.load(open(sys.argv[1]))["hosts"].values()))' "$log-2.json")
  [ "$changed" = 0 ] || fail "ours: the no-op run changed $changed things" "$log-2.json"
  python3 -c 'import json, sys
for run, f in (("first run", sys.argv[1]), ("no-op", sys.argv[2])):
    hosts = json.load(open(f))["hosts"].values()
    stages = {s: max(h["stage_ms"].get(s, 0) for h in hosts) for h in hosts for s in h["stage_ms"]}
    print("  ours, %s, slowest host per stage: %s" % (run, ", ".join("%s %.1f s" % (s, ms / 1000) for s, ms in stages.items())))' \
    "$log-1.json" "$log-2.json" >&2
}

replay() {
  local log=$work/replay-$r t
  t=$(now)
  TB=$tb "$peers/tutorial-replay.sh" "$work/render" "$work/pki" "${hosts[@]}" >"$log.log" 2>&1 || fail replay "$log.log"
  first=$(since "$t")
  noop=-
}

ansible() {
  local log=$work/ansible-$r t cp=$work/ansible-cp-$r
  # A control folder per run: a master left from the last (torn down) hosts must not be reused.
  export ANSIBLE_CONFIG=$peers/ansible/ansible.cfg ANSIBLE_SSH_CONTROL_PATH_DIR=$cp ANSIBLE_NOCOLOR=1
  local args=(-i "$work/ansible/inventory.yml" "$peers/ansible/etcd.yml")
  t=$(now); "$venv/bin/ansible-playbook" "${args[@]}" >"$log-1.log" 2>&1 || fail ansible "$log-1.log"; first=$(since "$t")
  t=$(now); "$venv/bin/ansible-playbook" "${args[@]}" >"$log-2.log" 2>&1 || fail ansible "$log-2.log"; noop=$(since "$t")
  for s in "$cp"/*; do
    if [ -S "$s" ]; then ssh -o ControlPath="$s" -O exit x >/dev/null 2>&1 || true; fi
  done
  local recap
  recap=$(awk '/^PLAY RECAP/ { r = 1; next } r && /changed=/' "$log-2.log")
  [ "$(grep -c ' changed=0 *unreachable=0 *failed=0 ' <<<"$recap")" = ${#hosts[@]} ] ||
    fail "ansible: the no-op run changed something" "$log-2.log"
}

pyinfra() {
  local log=$work/pyinfra-$r t
  local env=(BENCH_HOSTS="${hosts[*]}" BENCH_RENDER="$work/render" BENCH_PKI="$work/pki" BENCH_FLANNEL="$flannel_config" TB="$tb")
  local args=(-y --json "$peers/pyinfra/inventory.py" "$peers/pyinfra/deploy.py")
  t=$(now); env "${env[@]}" "$venv/bin/pyinfra" "${args[@]}" >"$log-1.json" 2>"$log-1.err" || fail pyinfra "$log-1.err"; first=$(since "$t")
  t=$(now); env "${env[@]}" "$venv/bin/pyinfra" "${args[@]}" >"$log-2.json" 2>"$log-2.err" || fail pyinfra "$log-2.err"; noop=$(since "$t")
  python3 -c 'import json, sys; t = json.load(open(sys.argv[1]))["results"]["totals"]; sys.exit(t["success"] + t["error"] != 0)' "$log-2.json" ||
    fail "pyinfra: the no-op run changed something" "$log-2.err" "$log-2.json"
}

check() { # TOOL: the cluster is healthy, flannel's config is there, and nothing is left to do
  local etcdctl=(env ETCDCTL_API=3 "$BENCH_ETCDCTL_BIN" --endpoints="$endpoints" --cacert="$work/pki/ca.pem"
                 --cert="$work/pki/admin.pem" --key="$work/pki/admin-key.pem" --command-timeout=10s)
  "${etcdctl[@]}" endpoint health --cluster >"$work/check.log" 2>&1 || fail "$1: etcd not healthy" "$work/check.log"
  [ "$("${etcdctl[@]}" get --print-value-only /coreos.com/network/config)" = "$flannel_config" ] ||
    fail "$1: flannel's network config is not in etcd" "$work/check.log"
  "$bin/k8s-bootstrap" apply --dry-run --spec "$spec" --known-hosts "$tb/known_hosts" --pki-dir "$work/pki" \
      --phase flannel-config --output json >"$work/check.json" 2>"$work/check.log" || fail "$1: dry run" "$work/check.log"
  local left
  left=$(python3 -c 'import json, sys; print(sum(len(h["changes"]) for h in json.load(open(sys.argv[1]))["hosts"].values()))' "$work/check.json")
  [ "$left" = 0 ] || fail "$1: k8s-bootstrap would still change $left things" "$work/check.json"
}

# --- the runs ---
tools=(ours replay ansible pyinfra)
declare -A firsts noops
printf 'load average at the start: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >&2
printf '| run | tool | first run | no-op | load |\n|---:|---|---:|---:|---:|\n'
for r in $(seq "$runs"); do
  for i in "${!tools[@]}"; do
    tool=${tools[$(((i + r - 1) % ${#tools[@]}))]}
    hosts_up
    l=$(load)
    "$tool"
    check "$tool"
    hosts_down
    firsts[$tool]+=" $first"
    [ "$noop" = - ] || noops[$tool]+=" $noop"
    printf '| %s | %s | %s s | %s | %s |\n' "$r" "$tool" "$first" "$( [ "$noop" = - ] && echo - || echo "$noop s")" "$l"
  done
done

median() { # NUMBERS...
  printf '%s\n' "$@" | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.2f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
# shellcheck disable=SC2086  # word splitting of the lists is meant
{
  of=$(median ${firsts[ours]}) on=$(median ${noops[ours]})
  echo
  echo "medians of $runs run(s); ratio = ours / tool (below 1: ours is faster)"
  echo
  printf '| tool | first run (zero to healthy) | no-op re-run | ours / tool, first run | ours / tool, no-op |\n|---|---:|---:|---:|---:|\n'
  printf '| k8s-bootstrap apply --phase flannel-config | %s s | %s s | 1.00 | 1.00 |\n' "$of" "$on"
  f=$(median ${firsts[replay]})
  printf '| tutorial replay (ssh/scp, host by host) | %s s | - | %s | - |\n' "$f" "$(ratio "$of" "$f")"
  f=$(median ${firsts[ansible]}) n=$(median ${noops[ansible]})
  printf '| Ansible (ansible-core %s, pipelining) | %s s | %s s | %s | %s |\n' "$ansible_version" "$f" "$n" "$(ratio "$of" "$f")" "$(ratio "$on" "$n")"
  f=$(median ${firsts[pyinfra]}) n=$(median ${noops[pyinfra]})
  printf '| pyinfra %s | %s s | %s s | %s | %s |\n' "$pyinfra_version" "$f" "$n" "$(ratio "$of" "$f")" "$(ratio "$on" "$n")"
}
printf 'load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >&2
