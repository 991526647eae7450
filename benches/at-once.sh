# Sourced by the bench scripts that time steps on the test hosts
# themselves (floor.sh, apply-scale.sh): the test hosts share this
# machine's clock, so a step is timed on the hosts with `date +%s%N`, and
# no SSH connection is inside it. Needs $tb (the testbed's folder, for
# its key and known_hosts) and $work (a scratch folder). Sets key (the
# ssh options for a test host).
key=(-q -i "$tb/id_ed25519" -o UserKnownHostsFile="$tb/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes)
# ms START END: the milliseconds between two `date +%s%N`.
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) / 1e6 }'; }
# together N CMD: runs CMD on test hosts 1..N (10.77.0.11 on) at the same
# instant (a lead of 0.3 s + 50 ms per host for the connections), with $i
# the host's number; prints the slowest host's ms.
together() {
  local n=$1 at i pids=()
  at=$(( $(date +%s%N) + 300000000 + 50000000 * n ))
  rm -f "$work"/t.*
  for i in $(seq "$n"); do
    ssh "${key[@]}" "root@10.77.0.$((10 + i))" "i=$i; while [ \$(date +%s%N) -lt $at ]; do :; done; $2; echo \$(( (\$(date +%s%N) - $at) / 1000000 ))" > "$work/t.$i" &
    pids+=($!)
  done
  wait "${pids[@]}"
  sort -n "$work"/t.* | tail -n1
}
