#!/usr/bin/env bash
# Times the tutorial's PKI work with cfssl 1.2 and with k8s-bootstrap, side
# by side in one hyperfine run, from the same JSON inputs:
#   1. tutorial: CA + one server cert (etcd-cert.sh) vs the cfssl_import example;
#   2. per-member: CA + server and peer cert for 3 members + admin and flanneld
#      client certs (9 keys) with cfssl vs the tutorial_pki example (which
#      writes that bundle plus the tutorial layout's server cert: 10 keys).
# Usage: benches/pki-vs-cfssl.sh [RUNS]   (needs cfssl, cfssljson, hyperfine)
set -euo pipefail
runs=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
for t in cfssl cfssljson hyperfine; do
  command -v "$t" >/dev/null || { echo "missing $t (apt-get install golang-cfssl hyperfine)" >&2; exit 1; }
done
cargo build -q --release -p k8s-bootstrap-examples --examples --manifest-path "$root/Cargo.toml"
bin="$root/target/release/examples"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

cat > ca-config.json <<'JSON'
{"signing":{"default":{"expiry":"87600h"},"profiles":{"www":{"expiry":"87600h",
 "usages":["signing","key encipherment","server auth","client auth"]},
 "client":{"expiry":"8760h","usages":["signing","key encipherment","client auth"]}}}}
JSON
cat > ca-csr.json <<'JSON'
{"CN":"etcd CA","key":{"algo":"rsa","size":2048},"names":[{"C":"CN","L":"Beijing","ST":"Beijing"}]}
JSON
cat > server-csr.json <<'JSON'
{"CN":"etcd","hosts":["192.168.1.30","192.168.1.31","192.168.1.32"],"key":{"algo":"rsa","size":2048},
 "names":[{"C":"CN","L":"BeiJing","ST":"BeiJing"}]}
JSON
for i in 1 2 3; do
  cat > member$i.json <<JSON
{"CN":"etcd0$i","hosts":["192.168.1.3$((i-1))","etcd0$i","localhost","127.0.0.1","::1"],"key":{"algo":"rsa","size":2048},
 "names":[{"C":"CN","L":"Beijing","ST":"Beijing"}]}
JSON
done
for c in admin flanneld; do
  echo "{\"CN\":\"$c\",\"key\":{\"algo\":\"rsa\",\"size\":2048}}" > $c.json
done

cat > cfssl-tutorial.sh <<'SH'
set -e; rm -rf cf && mkdir cf && cd cf
cfssl gencert -initca ../ca-csr.json 2>/dev/null | cfssljson -bare ca -
cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=../ca-config.json -profile=www ../server-csr.json 2>/dev/null | cfssljson -bare server
SH
cat > cfssl-per-member.sh <<'SH'
set -e; rm -rf cfm && mkdir cfm && cd cfm
cfssl gencert -initca ../ca-csr.json 2>/dev/null | cfssljson -bare ca -
for i in 1 2 3; do for k in server peer; do
  cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=../ca-config.json -profile=www ../member$i.json 2>/dev/null | cfssljson -bare etcd0$i-$k
done; done
for c in admin flanneld; do
  cfssl gencert -ca=ca.pem -ca-key=ca-key.pem -config=../ca-config.json -profile=client ../$c.json 2>/dev/null | cfssljson -bare $c
done
SH

hyperfine --warmup 2 --runs "$runs" --export-markdown "$work/result.md" \
  --command-name "cfssl 1.2: tutorial CA + server" "bash cfssl-tutorial.sh" \
  --command-name "k8s-bootstrap: tutorial CA + server (cfssl_import)" "rm -rf ko && $bin/cfssl_import . www ko >/dev/null" \
  --command-name "cfssl 1.2: per-member, 3 members (9 keys)" "bash cfssl-per-member.sh" \
  --command-name "k8s-bootstrap: per-member, 3 members + tutorial layout (10 keys)" "rm -rf kp && $bin/tutorial_pki kp >/dev/null" \
  --command-name "k8s-bootstrap: re-run on the same folder (no-op)" "$bin/tutorial_pki kp >/dev/null"
cat "$work/result.md"
