"""Bring up etcd, flannel and docker with a TLS PKI: typed cluster specs,
rendered files and commands, and the certificate bundle, from Python.

A thin binding of the Rust crate k8s-bootstrap-core: every rule lives there.

The data classes (``Report``, ``Change``, ``CertInfo``, ...) are made from the
core types' serde form: each field of the Rust type is an attribute (the
attributes below; ``tests/test_stubs_and_example.py`` checks that they match).
"""

import builtins
import datetime
import os
from collections.abc import Callable, Coroutine, Iterator, KeysView, ItemsView, Mapping, Sequence, ValuesView
from typing import Any, Final, Optional, TypeVar, Union, final, overload


__version__: str

# The core's defaults (stubtest checks these values against the module).
DEFAULT_CONCURRENCY: Final = 16
"""Hosts acted on at once within a stage, unless ``concurrency=`` says otherwise."""
DEFAULT_CONNECT_TIMEOUT: Final = 10.0
"""SSH connect timeout in seconds, unless ``connect_timeout=`` says otherwise."""

__all__ = [
    "__version__", "DEFAULT_CONCURRENCY", "DEFAULT_CONNECT_TIMEOUT", "ClusterSpec", "Problem",
    "RenderedCluster", "HostRender", "RenderedFile", "Command", "HostCert", "CertBundle", "Issued",
    "BundleFile", "CertAction", "CertInfo", "EtcdCluster", "FlannelConfig", "DockerUnit",
    "HostPrep", "Cluster", "Report", "HostReport", "Change", "Failure", "Finding", "ClusterStatus",
    "HostStatus", "EtcdMemberStatus", "DockerBridge", "MemberChange", "SnapshotInfo", "RestoreReport", "K8sBootstrapError",
    "ValidationError", "PkiError", "RenderError", "TransportError", "HostKeyError",
    "AuthenticationError", "ConnectionError", "CommandError", "LockedError", "adopt",
]

_T = TypeVar("_T")
_Json = Any
_Files = Mapping[str, bytes]
_Path = Union[str, os.PathLike[str]]
_Event = dict[str, Any]

# ---------------------------------------------------------------- exceptions

class K8sBootstrapError(Exception):
    """Base class of every error raised by k8s_bootstrap."""

class ValidationError(K8sBootstrapError, ValueError):
    """A value breaks a rule of the core (a spec field, a builder setting, a PKI input, an argument)."""

    path: Optional[str]
    value: Optional[str]
    rule: Optional[str]
    fix: Optional[str]
    line: Optional[int]
    column: Optional[int]
    problems: Optional[list[Problem]]

class PkiError(K8sBootstrapError):
    """The PKI cannot do what was asked with the existing files."""

class LockedError(K8sBootstrapError):
    """Another run holds the cluster's lock (its PKI folder's, or a host's): nothing was done.
    The message names that run (user@host, since, pid, command). Attribute ``host``: the host, or None."""

    host: Optional[str]

class RenderError(K8sBootstrapError):
    """A template of the core failed to render."""

    host: Optional[str]

class TransportError(K8sBootstrapError):
    """Acting on a host failed."""

    host: Optional[str]

class HostKeyError(TransportError):
    """The host key is unknown, differs from the recorded or pinned one, or is refused."""

    fingerprint: Optional[str]
    expected: Optional[str]
    known_hosts: Optional[str]

class AuthenticationError(TransportError):
    """No offered key was accepted."""

    user: Optional[str]
    tried: Optional[str]

class ConnectionError(TransportError, builtins.ConnectionError):
    """The connection could not be made, timed out, or broke."""

    reason: Optional[str]
    timeout: Optional[float]

class CommandError(TransportError):
    """A command on a host failed or timed out."""

    command: Optional[str]
    exit_code: Optional[int]
    stderr: Optional[str]
    timeout: Optional[float]

# ---------------------------------------------------------------- spec

@final
class Problem:
    """One rule a value breaks (or a risky setting, for a warning)."""

    path: str
    value: str
    rule: str
    fix: Optional[str]
    location: Optional[tuple[int, int]]
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class ClusterSpec:
    """The whole cluster; read it with from_file, from_yaml or from_dict."""

    @classmethod
    def from_file(cls, path: _Path) -> ClusterSpec:
        """Reads a spec from a YAML file. It is not validated yet."""
    @classmethod
    def from_yaml(cls, text: str) -> ClusterSpec:
        """Reads a spec from YAML text. It is not validated yet."""
    @classmethod
    def from_dict(cls, d: Mapping[str, _Json]) -> ClusterSpec:
        """Reads a spec from a dict of the same shape as the YAML."""
    def to_dict(self) -> dict[str, _Json]:
        """The spec as a dict (every section, defaults filled in)."""
    def to_yaml(self) -> str:
        """The spec as YAML text."""
    def validate(self) -> list[Problem]:
        """Checks every rule; returns the warnings, raises ValidationError."""
    def render(self) -> RenderedCluster:
        """Validates the spec and renders every file and command of every host."""
    def commands_sh(self, host: str) -> str:
        """What apply does on a host that has nothing yet, as a POSIX sh script (commands.sh)."""
    def needs_etcd_v2(self) -> bool:
        """Whether flannel needs etcd's v2 API (flannel <= 0.17)."""
    @property
    def host_names(self) -> list[str]:
        """The host names, in spec order."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

# ---------------------------------------------------------------- render

@final
class RenderedFile:
    """One file to put on a host."""

    path: str
    content: bytes
    mode: int
    owner: str
    secret: bool
    """A secret: never shown in a diff or a log."""
    restarts: list[str]
    """The units that restart when this file changes."""
    unit: Optional[str]
    """The systemd unit this file defines (systemd reloads when it changes)."""
    @property
    def text(self) -> str:
        """The content as text."""

@final
class Command:
    """One command of a host, as an argv list, with an optional check."""

    description: str
    phase: str
    argv: list[str]
    check: Optional[list[str]]
    os: Optional[str]
    def to_shell(self) -> str:
        """The command as one quoted shell line with its check and OS guard."""

@final
class HostCert:
    """A certificate a host needs and where it goes."""

    id: str
    cert_file: str
    key_file: Optional[str]
    cert_path: str
    key_path: Optional[str]
    restarts: list[str]
    """The units that restart when the certificate or its key changes."""

@final
class HostRender(Mapping[str, RenderedFile]):
    """Everything one host gets: path -> RenderedFile, plus commands and certs."""

    @property
    def files(self) -> dict[str, RenderedFile]:
        """The files, by absolute path."""
    @property
    def commands(self) -> list[Command]:
        """The commands, in order."""
    @property
    def certs(self) -> list[HostCert]:
        """The certificates this host needs."""
    def __getitem__(self, path: str, /) -> RenderedFile: ...
    def __len__(self) -> int: ...
    def __contains__(self, path: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def keys(self) -> KeysView[str]:
        """The paths."""
    def values(self) -> ValuesView[RenderedFile]:
        """The files."""
    def items(self) -> ItemsView[str, RenderedFile]:
        """(path, RenderedFile) pairs."""
    @overload
    def get(self, key: str, default: None = None, /) -> Optional[RenderedFile]: ...
    @overload
    def get(self, key: str, default: Union[RenderedFile, _T], /) -> Union[RenderedFile, _T]: ...

@final
class RenderedCluster(Mapping[str, HostRender]):
    """The render of a whole cluster: host -> HostRender, plus warnings."""

    @property
    def warnings(self) -> list[Problem]:
        """The warnings of the spec."""
    def __getitem__(self, host: str, /) -> HostRender: ...
    def __len__(self) -> int: ...
    def __contains__(self, host: object, /) -> bool: ...
    def __iter__(self) -> Iterator[str]: ...
    def keys(self) -> KeysView[str]:
        """The host names."""
    def values(self) -> ValuesView[HostRender]:
        """The hosts' renders."""
    def items(self) -> ItemsView[str, HostRender]:
        """(host, HostRender) pairs."""
    @overload
    def get(self, key: str, default: None = None, /) -> Optional[HostRender]: ...
    @overload
    def get(self, key: str, default: Union[HostRender, _T], /) -> Union[HostRender, _T]: ...

# ---------------------------------------------------------------- PKI

@final
class CertBundle:
    """The TLS PKI of a cluster. Keyword-only; None takes the Rust default."""

    def __new__(
        cls,
        *,
        members: Optional[Sequence[Mapping[str, _Json]]] = None,
        ca_subject: Optional[Mapping[str, str]] = None,
        ca_validity_days: Optional[int] = None,
        leaf_validity_days: Optional[int] = None,
        renew_before_days: Optional[int] = None,
        key_algorithm: Optional[str] = None,
        extra_sans: Optional[Sequence[str]] = None,
        admin_client: Optional[bool] = None,
        flannel_client: Optional[bool] = None,
        layout: Optional[str] = None,
        tutorial_server_subject: Optional[Mapping[str, str]] = None,
        existing_ca_cert: Optional[str] = None,
        existing_ca_key: Optional[str] = None,
        replace_expiring_ca: Optional[bool] = None,
        etcd_version: Optional[str] = None,
        flannel_version: Optional[str] = None,
    ) -> CertBundle: ...
    @classmethod
    def for_cluster(cls, spec: ClusterSpec) -> CertBundle:
        """The bundle a cluster spec needs (its etcd hosts, pki settings, versions)."""
    @property
    def warnings(self) -> list[str]:
        """Warnings found while validating."""
    @property
    def layout(self) -> str:
        """``per-member`` or ``tutorial``."""
    @property
    def key_algorithm(self) -> str:
        """The key algorithm of generated keys."""
    def wanted(self) -> list[str]:
        """Every certificate of the bundle, CA first, as file stems."""
    def generate(self) -> Issued:
        """Generates every certificate from scratch."""
    def reconcile(self, existing: _Files, *, now: Optional[datetime.datetime] = None) -> Issued:
        """Brings existing files to what the bundle asks for; keeps what is right."""
    @classmethod
    def inspect(cls, files: _Files, *, now: Optional[datetime.datetime] = None) -> list[CertInfo]:
        """Reads every certificate of a bundle, sorted by path."""

@final
class BundleFile:
    """One file of a bundle (``content`` is PEM bytes; ``secret``: a private key)."""

    path: str
    content: bytes
    mode: int
    secret: bool

@final
class CertAction:
    """What happened to one certificate (``change``: ``kept``, ``issued`` or ``imported``)."""

    id: str
    change: str
    reason: Optional[str]
    not_after: datetime.datetime

@final
class Issued:
    """The files of a bundle and the report of what was kept or issued."""

    files: dict[str, BundleFile]
    actions: list[CertAction]
    warnings: list[str]
    unmanaged: list[str]
    def as_existing(self) -> dict[str, bytes]:
        """The files as {relative path: bytes}."""

@final
class CertInfo:
    """What a certificate says about itself."""

    path: str
    subject: str
    common_name: str
    issuer: str
    serial: str
    is_ca: bool
    sans: list[str]
    key_usages: list[str]
    ext_key_usages: list[str]
    key_algorithm: str
    not_before: datetime.datetime
    not_after: datetime.datetime
    days_left: int
    validity_days: int

# ---------------------------------------------------------------- builders
# The keywords are the core builder's fields; None takes the Rust default.

@final
class EtcdCluster:
    """etcd for one version. Keyword-only; None takes the Rust default."""

    def __new__(
        cls,
        *,
        version: Optional[str] = None,
        members: Optional[Sequence[Mapping[str, _Json]]] = None,
        client_port: Optional[int] = None,
        peer_port: Optional[int] = None,
        data_dir: Optional[str] = None,
        token: Optional[str] = None,
        initial_state: Optional[str] = None,
        tls_min_version: Optional[str] = None,
        enable_v2: Optional[bool] = None,
        etcd_dir: Optional[str] = None,
        systemd_dir: Optional[str] = None,
        cert_layout: Optional[str] = None,
    ) -> EtcdCluster: ...
    @classmethod
    def from_spec(cls, spec: ClusterSpec) -> EtcdCluster:
        """The cluster a spec describes."""
    def to_dict(self) -> dict[str, _Json]:
        """The settings as a dict."""
    def validate(self) -> list[Problem]:
        """Every problem of the settings; empty when valid."""
    def render_member(self, name: str) -> HostRender:
        """The files, commands and certs of member ``name``."""
    def client_endpoints(self) -> str:
        """The client URLs of every member, comma-separated."""
    def initial_cluster(self) -> str:
        """``--initial-cluster``."""
    def health_command(self) -> Command:
        """The health check command."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class FlannelConfig:
    """flannel for one version. Keyword-only; None takes the Rust default."""

    def __new__(
        cls,
        *,
        version: Optional[str] = None,
        network: Optional[str] = None,
        subnet_len: Optional[int] = None,
        subnet_min: Optional[str] = None,
        subnet_max: Optional[str] = None,
        backend: Optional[Mapping[str, _Json]] = None,
        etcd_prefix: Optional[str] = None,
        etcd_endpoints: Optional[str] = None,
        ip_masq: Optional[bool] = None,
        kubernetes_dir: Optional[str] = None,
        systemd_dir: Optional[str] = None,
        cert_layout: Optional[str] = None,
    ) -> FlannelConfig: ...
    @classmethod
    def from_spec(cls, spec: ClusterSpec) -> FlannelConfig:
        """flannel as a spec describes it."""
    def to_dict(self) -> dict[str, _Json]:
        """The settings as a dict."""
    def validate(self) -> list[Problem]:
        """Every problem of the settings; empty when valid."""
    def render_node(self, host: str, public_ip: str, iface: Optional[str] = None) -> HostRender:
        """The files, commands and certs of a node."""
    def network_config_json(self) -> str:
        """flannel's network config JSON."""
    def config_command(self, etcd: EtcdCluster) -> Command:
        """The command that writes the network config into etcd."""
    def options(self, public_ip: str, iface: Optional[str] = None) -> list[str]:
        """flanneld's options for a node."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class DockerUnit:
    """docker.service and daemon.json of a node. Keyword-only; None takes the Rust default."""

    def __new__(
        cls,
        *,
        mode: Optional[str] = None,
        dockerd: Optional[str] = None,
        systemd_dir: Optional[str] = None,
        opts_file: Optional[str] = None,
        ip_masq: Optional[bool] = None,
        data_root: Optional[str] = None,
        storage_driver: Optional[str] = None,
        registry_mirrors: Optional[Sequence[str]] = None,
        cgroup_driver: Optional[str] = None,
        bip: Optional[str] = None,
        mtu: Optional[int] = None,
    ) -> DockerUnit: ...
    @classmethod
    def from_spec(cls, spec: ClusterSpec, host: str) -> DockerUnit:
        """docker as a spec describes it for a host."""
    def to_dict(self) -> dict[str, _Json]:
        """The settings as a dict."""
    def validate(self) -> list[Problem]:
        """Every problem of the settings; empty when valid."""
    def render(self) -> HostRender:
        """docker.service, daemon.json and the commands."""
    def daemon_json(self) -> Optional[str]:
        """daemon.json's content, or None."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class HostPrep:
    """Host preparation of one host. ``hostname`` is required (None: leave it)."""

    def __new__(
        cls,
        *,
        hostname: Optional[str],
        os: Optional[str] = None,
        selinux: Optional[str] = None,
        firewall: Optional[str] = None,
        tcp_ports: Optional[Sequence[int]] = None,
        udp_ports: Optional[Sequence[int]] = None,
        address: Optional[str] = None,
        time_sync: Optional[str] = None,
        swap_off: Optional[bool] = None,
        modules: Optional[Sequence[str]] = None,
        sysctls: Optional[Sequence[tuple[str, str]]] = None,
    ) -> HostPrep: ...
    @classmethod
    def from_spec(cls, spec: ClusterSpec, host: str) -> HostPrep:
        """Preparation of a host as the spec describes it."""
    def to_dict(self) -> dict[str, _Json]:
        """The settings as a dict."""
    def validate(self) -> list[Problem]:
        """Every problem of the settings; empty when valid."""
    def render(self) -> HostRender:
        """The files and the check-plus-change commands."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

# ---------------------------------------------------------------- adopt

def adopt(
    hosts: Sequence[str],
    *,
    out: _Path,
    pki_dir: Optional[_Path] = None,
    force: bool = False,
    ca_key: Optional[_Path] = None,
    known_hosts: Optional[_Path] = None,
    accept_new_host_keys: bool = False,
    connect_timeout: float = ...,
    ssh_config: Optional[_Path] = None,
) -> dict[str, Any]:
    """Read a running cluster built by hand (the tutorial's) over SSH into a spec.

    ``hosts``: ``["etcd01=192.168.1.30", ...]``, every etcd member and flannel
    node. Writes the spec to ``out`` (never over an existing file unless
    ``force``) and imports the cluster's CA and key into ``pki_dir`` (default
    ``pki/`` beside ``out``); nothing is written when it fails, and no host
    is changed. ``ca_key``: the CA key file when no host has it.

    Returns ``{"spec": ClusterSpec, "spec_path", "pki_dir", "ca_key_from",
    "cluster_id", "member_ids", "found", "insecure"}``. Raises
    ``ValidationError`` for hosts that do not make one cluster, ``PkiError``
    for a CA key that is missing or not the CA's, ``ConnectionError`` for a
    host that cannot be read. ``Cluster.from_file(out).plan()`` then lists
    the migration.
    """
    ...

# ---------------------------------------------------------------- plan / apply / status / reset
# concurrency defaults to DEFAULT_CONCURRENCY, connect_timeout to DEFAULT_CONNECT_TIMEOUT.

@final
class Cluster:
    """A cluster spec bound to where its PKI lives and how to reach its hosts over SSH.

    ``plan``, ``apply``, ``status``, ``reset``, ``add_member`` and ``remove_member``
    act like the ``k8s-bootstrap`` commands of the same name, with the same options
    and defaults; blocking with the GIL released, or as asyncio coroutines (``*_async``).
    """

    def __new__(
        cls,
        spec: ClusterSpec,
        *,
        spec_path: Optional[_Path] = None,
        pki_dir: Optional[_Path] = None,
        known_hosts: Optional[_Path] = None,
        accept_new_host_keys: bool = False,
        connect_timeout: float = ...,
        progress: Optional[Callable[[_Event], object]] = None,
    ) -> Cluster: ...
    @classmethod
    def from_file(
        cls,
        path: _Path,
        *,
        pki_dir: Optional[_Path] = None,
        known_hosts: Optional[_Path] = None,
        accept_new_host_keys: bool = False,
        connect_timeout: float = ...,
        progress: Optional[Callable[[_Event], object]] = None,
    ) -> Cluster:
        """Reads the spec at ``path``; certificates in ``pki/`` beside it (or ``pki_dir``)."""
    @property
    def spec(self) -> ClusterSpec:
        """The spec."""
    @property
    def warnings(self) -> list[Problem]:
        """The spec's warnings."""
    @property
    def pki_dir(self) -> str:
        """The folder of the cluster's certificates (absolute)."""
    def plan(
        self,
        *,
        concurrency: int = ...,
        only: Optional[Sequence[str]] = None,
        phase: Optional[str] = None,
        out: Optional[Union[str, os.PathLike[str]]] = None,
        waive: Optional[Sequence[str]] = None,
    ) -> Report:
        """What would change, with diffs; changes nothing.

        ``out``: also save the plan there (JSON) for ``apply(plan=out)``."""
    def apply(
        self,
        *,
        dry_run: bool = False,
        concurrency: int = ...,
        only: Optional[Sequence[str]] = None,
        phase: Optional[str] = None,
        break_lock: bool = False,
        plan: Optional[Union[str, os.PathLike[str]]] = None,
        waive: Optional[Sequence[str]] = None,
    ) -> Report:
        """Brings the cluster to the spec; failed hosts are in the report.

        ``plan``: a file saved by ``plan(out=...)``: run exactly it, or refuse (``aborted``).

        Holds the cluster lock: another run holding it raises ``LockedError`` (the PKI folder)
        or fails the hosts with kind ``locked``; ``break_lock`` breaks a stale host lock.

        Preflight first: a finding (``Report.preflight``) refuses the run with nothing changed,
        unless its check is named in ``waive`` (e.g. ``["masked-unit"]``)."""
    def status(self) -> ClusterStatus:
        """The cluster's state; changes nothing."""
    def reset(self, *, purge: bool = False, only: Optional[Sequence[str]] = None, break_lock: bool = False) -> Report:
        """Stops and removes what apply installed (etcd's data only with ``purge``)."""
    def snapshot(self, out: _Path) -> SnapshotInfo:
        """An etcd snapshot written to ``out`` (mode 0600), like ``k8s-bootstrap etcd snapshot``."""
    def restore(self, path: _Path, *, break_lock: bool = False) -> RestoreReport:
        """Rebuilds the etcd cluster from the snapshot at ``path``, like ``k8s-bootstrap etcd restore``."""
    def add_member(
        self,
        member: str,
        *,
        concurrency: int = ...,
        only: Optional[Sequence[str]] = None,
        phase: Optional[str] = None,
        break_lock: bool = False,
    ) -> MemberChange:
        """Makes ``NAME=ADDR[:ROLES]`` an etcd member: the spec (and ``spec_path``) gains it, then apply."""
    def remove_member(
        self,
        name: str,
        *,
        concurrency: int = ...,
        only: Optional[Sequence[str]] = None,
        phase: Optional[str] = None,
        break_lock: bool = False,
    ) -> MemberChange:
        """Makes host ``name`` leave etcd: the spec (and ``spec_path``) drops it, apply, then clean it up."""
    def plan_async(
        self,
        *,
        concurrency: int = ...,
        only: Optional[Sequence[str]] = None,
        phase: Optional[str] = None,
        out: Optional[Union[str, os.PathLike[str]]] = None,
        waive: Optional[Sequence[str]] = None,
    ) -> Coroutine[Any, Any, Report]:
        """``plan`` for asyncio."""
    def apply_async(
        self,
        *,
        dry_run: bool = False,
        concurrency: int = ...,
        only: Optional[Sequence[str]] = None,
        phase: Optional[str] = None,
        break_lock: bool = False,
        plan: Optional[Union[str, os.PathLike[str]]] = None,
        waive: Optional[Sequence[str]] = None,
    ) -> Coroutine[Any, Any, Report]:
        """``apply`` for asyncio."""
    def status_async(self) -> Coroutine[Any, Any, ClusterStatus]:
        """``status`` for asyncio."""
    def reset_async(
        self, *, purge: bool = False, only: Optional[Sequence[str]] = None, break_lock: bool = False
    ) -> Coroutine[Any, Any, Report]:
        """``reset`` for asyncio."""
    def snapshot_async(self, out: _Path) -> Coroutine[Any, Any, SnapshotInfo]:
        """``snapshot`` for asyncio."""
    def restore_async(self, path: _Path, *, break_lock: bool = False) -> Coroutine[Any, Any, RestoreReport]:
        """``restore`` for asyncio."""
    def add_member_async(
        self,
        member: str,
        *,
        concurrency: int = ...,
        only: Optional[Sequence[str]] = None,
        phase: Optional[str] = None,
        break_lock: bool = False,
    ) -> Coroutine[Any, Any, MemberChange]:
        """``add_member`` for asyncio."""
    def remove_member_async(
        self,
        name: str,
        *,
        concurrency: int = ...,
        only: Optional[Sequence[str]] = None,
        phase: Optional[str] = None,
        break_lock: bool = False,
    ) -> Coroutine[Any, Any, MemberChange]:
        """``remove_member`` for asyncio."""

@final
class Change:
    """One change a host made (apply, reset) or would make (plan; ``diff`` only then)."""

    stage: str
    what: str
    diff: Optional[str]

@final
class Failure:
    """Why a host failed (``kind``: ``host-key``, ``auth``, ``connect``, ``command``, ``transfer``, ``other``)."""

    host: str
    stage: str
    step: str
    kind: str
    error: str
    log: Optional[str]
    def exception(self) -> TransportError:
        """The mapped exception, not raised."""

@final
class HostReport:
    """The report of one host."""

    changes: list[Change]
    unchanged: int
    notes: list[str]
    failed: Optional[Failure]
    stage_ms: dict[str, int]
    ok: bool
    def to_dict(self) -> dict[str, _Json]:
        """The core's JSON form."""

@final
class Report:
    """The report of plan, apply or reset."""

    dry_run: bool
    hosts: dict[str, HostReport]
    aborted: Optional[str]
    elapsed_ms: int
    preflight: list[Finding]
    warnings: list[str]
    ok: bool
    change_count: int
    failures: list[Failure]
    def raise_for_failure(self) -> None:
        """Raises the first failed host's exception, or K8sBootstrapError when aborted."""
    def to_dict(self) -> dict[str, _Json]:
        """The core's JSON form (``--output json``)."""

@final
class Finding:
    """A problem preflight found before anything changed (``check``: the name ``waive=`` takes)."""

    host: str
    check: str
    found: str
    fix: str
    waived: bool

@final
class MemberChange:
    """The result of ``Cluster.add_member`` / ``remove_member``."""

    name: str
    action: str
    spec: ClusterSpec
    yaml: str
    apply: Report
    cleanup: Optional[Report]
    ok: bool

@final
class SnapshotInfo:
    """What ``Cluster.snapshot`` saved."""

    member: str
    path: str
    bytes: int
    sha256: str
    revision: int
    total_keys: int
    def to_dict(self) -> dict[str, _Json]:
        """The core's JSON form (``--output json``)."""

@final
class RestoreReport:
    """What ``Cluster.restore`` did: the snapshot's revision and keys, the new cluster token,
    the members restored, and per member where its data before the restore was moved (``kept``)."""

    snapshot: str
    sha256: str
    revision: int
    total_keys: int
    token: str
    members: list[str]
    kept: list[tuple[str, str]]
    elapsed_ms: int
    def to_dict(self) -> dict[str, _Json]:
        """The core's JSON form (``--output json``)."""

@final
class DockerBridge:
    """docker0 against flannel's subnet file on a host."""

    flannel_subnet: Optional[str]
    docker0: Optional[str]
    matches: bool

@final
class HostStatus:
    """The state of one host."""

    reachable: bool
    error: Optional[str]
    units: dict[str, str]
    docker_bridge: Optional[DockerBridge]

@final
class EtcdMemberStatus:
    """One etcd endpoint's health."""

    endpoint: str
    healthy: bool
    server_version: Optional[str]

@final
class ClusterStatus:
    """The state of a cluster."""

    hosts: dict[str, HostStatus]
    etcd_endpoints: list[EtcdMemberStatus]
    etcd_members: list[str]
    etcd_members_match_spec: bool
    etcd_healthy: bool
    flannel_config: Optional[str]
    flannel_api: str
    problems: list[str]
    warnings: list[str]
    def to_dict(self) -> dict[str, _Json]:
        """The core's JSON form (``--output json``)."""
