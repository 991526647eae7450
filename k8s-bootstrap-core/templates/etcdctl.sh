#!/bin/sh
# etcdctl as the admin client of this cluster, etcd {{ version }}, API v{{ api }}.
# Example: {{ path }} {{ example }}
ETCDCTL_API={{ api }}
export ETCDCTL_API
exec {{ etcdctl_bin }}{% for flag in flags %} \
  {{ flag }}{% endfor %} \
  "$@"
