#!/bin/sh
# Commands of host {{ host }}, in order, rendered by k8s-bootstrap.
# Files are written before these run. Across hosts, a phase finishes on every
# host before the next phase starts (etcd members start in parallel).
# A command behind "if ! CHECK" only runs when CHECK fails: running this
# twice changes nothing the second time.
set -eu
{%- if os_detect %}

# OS family from /etc/os-release (rhel: CentOS/RHEL/Rocky, debian: Debian/Ubuntu)
{{ detect_script }}
{%- endif %}
{%- for phase in phases %}

# === phase: {{ phase.0 }} ===
{%- for c in phase.1 %}
# {{ c.0 }}
{{ c.1 }}
{%- endfor %}
{%- endfor %}
