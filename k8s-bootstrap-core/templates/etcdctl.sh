#!/bin/sh
# etcdctl as the admin client of this cluster, etcd {{ version }}, API v{{ api }}.
# Example: {{ path }} {{ example }}
{%- if set_api_env %}
ETCDCTL_API={{ api }}
export ETCDCTL_API
{%- endif %}
exec {{ etcdctl_bin }}{% for flag in flags %} \
  {{ flag }}{% endfor %} \
  "$@"
