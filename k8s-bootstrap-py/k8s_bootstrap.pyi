"""Bring up etcd, flannel and docker with a TLS PKI: typed cluster specs,
rendered files and commands, and the certificate bundle, from Python.

A thin binding of the Rust crate k8s-bootstrap-core: every rule lives there.
"""

import builtins
import datetime
import os
from collections.abc import Callable, Coroutine, Iterator, KeysView, ItemsView, Mapping, Sequence, ValuesView
from typing import Any, Optional, TypeVar, Union, final, overload


__version__: str

__all__ = [
    "__version__",
    "ClusterSpec",
    "Problem",
    "RenderedCluster",
    "HostRender",
    "RenderedFile",
    "Command",
    "HostCert",
    "CertBundle",
    "Issued",
    "BundleFile",
    "CertAction",
    "CertInfo",
    "EtcdCluster",
    "FlannelConfig",
    "DockerUnit",
    "HostPrep",
    "Cluster",
    "Report",
    "HostReport",
    "Change",
    "Failure",
    "ClusterStatus",
    "HostStatus",
    "EtcdMemberStatus",
    "DockerBridge",
    "K8sBootstrapError",
    "ValidationError",
    "PkiError",
    "RenderError",
    "TransportError",
    "HostKeyError",
    "AuthenticationError",
    "ConnectionError",
    "CommandError",
]

_T = TypeVar("_T")
_Json = Any
_Files = Mapping[str, bytes]

# ---------------------------------------------------------------- exceptions

class K8sBootstrapError(Exception):
    """Base class of every error raised by k8s_bootstrap."""

class ValidationError(K8sBootstrapError, ValueError):
    """A value breaks a rule of the core (a spec field, a builder setting, a PKI input)."""

    path: Optional[str]
    value: Optional[str]
    rule: Optional[str]
    fix: Optional[str]
    line: Optional[int]
    column: Optional[int]
    problems: Optional[list[Problem]]

class PkiError(K8sBootstrapError):
    """The PKI cannot do what was asked with the existing files."""

class RenderError(K8sBootstrapError):
    """A template of the core failed to render."""

    host: Optional[str]

class TransportError(K8sBootstrapError):
    """Acting on a host failed."""

    host: Optional[str]

class HostKeyError(TransportError):
    """The host key is unknown or differs from the recorded or pinned one."""

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

    @property
    def path(self) -> str:
        """Field path, like ``hosts[1].address``."""
    @property
    def value(self) -> str:
        """The offending value as text."""
    @property
    def rule(self) -> str:
        """The rule the value breaks."""
    @property
    def fix(self) -> Optional[str]:
        """A suggested fix, or None."""
    def __eq__(self, other: object, /) -> bool: ...
    def __ne__(self, other: object, /) -> bool: ...
    __hash__: None  # type: ignore[assignment]

@final
class ClusterSpec:
    """The whole cluster; read it with from_file, from_yaml or from_dict."""

    @classmethod
    def from_file(cls, path: Union[str, os.PathLike[str]]) -> ClusterSpec:
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

    @property
    def path(self) -> str:
        """Absolute path on the host."""
    @property
    def content(self) -> bytes:
        """The bytes."""
    @property
    def mode(self) -> int:
        """Unix permission bits."""
    @property
    def owner(self) -> str:
        """``user:group`` that owns it."""
    @property
    def text(self) -> str:
        """The content as text."""

@final
class Command:
    """One command of a host, as an argv list, with an optional check."""

    @property
    def description(self) -> str:
        """What it does, for people."""
    @property
    def phase(self) -> str:
        """When it runs (``host-prep``, ``install``, ``etcd-start``, ...)."""
    @property
    def argv(self) -> list[str]:
        """The command to run."""
    @property
    def check(self) -> Optional[list[str]]:
        """Skip argv when this exits 0; None: always run."""
    @property
    def os(self) -> Optional[str]:
        """Only on this OS family (``rhel`` or ``debian``); None: on all."""
    def to_shell(self) -> str:
        """The command as one quoted shell line with its check and OS guard."""

@final
class HostCert:
    """A certificate a host needs and where it goes."""

    @property
    def id(self) -> str:
        """The stem of its bundle file names (``ca``, ``etcd01-server``, ...)."""
    @property
    def cert_file(self) -> str:
        """The certificate's file name in the bundle."""
    @property
    def key_file(self) -> Optional[str]:
        """The key's file name in the bundle; None for the CA."""
    @property
    def cert_path(self) -> str:
        """Absolute path of the certificate on the host."""
    @property
    def key_path(self) -> Optional[str]:
        """Absolute path of the key on the host; None for the CA."""

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
    def commands_sh(self, host: str) -> str:
        """The commands as a POSIX sh script (the Rust renderer's commands.sh)."""
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
    def get(self, path: str, default: None = None) -> Optional[RenderedFile]: ...
    @overload
    def get(self, path: str, default: Union[RenderedFile, _T]) -> Union[RenderedFile, _T]: ...

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
    def get(self, host: str, default: None = None) -> Optional[HostRender]: ...
    @overload
    def get(self, host: str, default: Union[HostRender, _T]) -> Union[HostRender, _T]: ...

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
    """One file of a bundle."""

    @property
    def path(self) -> str:
        """Path relative to the bundle root."""
    @property
    def content(self) -> bytes:
        """The bytes (PEM text)."""
    @property
    def mode(self) -> int:
        """0o600 for keys, 0o644 for certificates."""
    @property
    def secret(self) -> bool:
        """Whether this file holds a private key."""

@final
class CertAction:
    """What happened to one certificate."""

    @property
    def id(self) -> str:
        """The certificate, as its file stem."""
    @property
    def change(self) -> str:
        """``kept``, ``issued`` or ``imported``."""
    @property
    def reason(self) -> Optional[str]:
        """Why it was issued; None otherwise."""
    @property
    def not_after(self) -> datetime.datetime:
        """Its notAfter (aware, UTC)."""

@final
class Issued:
    """The files of a bundle and the report of what was kept or issued."""

    @property
    def files(self) -> dict[str, BundleFile]:
        """Every file of the bundle by relative path."""
    @property
    def actions(self) -> list[CertAction]:
        """One entry per certificate, CA first."""
    @property
    def warnings(self) -> list[str]:
        """Warnings."""
    @property
    def unmanaged(self) -> list[str]:
        """Existing files that belong to no certificate of the bundle."""
    def as_existing(self) -> dict[str, bytes]:
        """The files as {relative path: bytes}."""

@final
class CertInfo:
    """What a certificate says about itself."""

    @property
    def path(self) -> str:
        """The file it was read from."""
    @property
    def subject(self) -> str:
        """Subject, one line."""
    @property
    def common_name(self) -> str:
        """The subject's CN."""
    @property
    def issuer(self) -> str:
        """Issuer, one line."""
    @property
    def serial(self) -> str:
        """Serial number, hex."""
    @property
    def is_ca(self) -> bool:
        """Whether it is a CA certificate."""
    @property
    def sans(self) -> list[str]:
        """SANs as text."""
    @property
    def key_usages(self) -> list[str]:
        """Key usages."""
    @property
    def ext_key_usages(self) -> list[str]:
        """Extended key usages."""
    @property
    def key_algorithm(self) -> str:
        """Key algorithm."""
    @property
    def not_before(self) -> datetime.datetime:
        """notBefore (aware, UTC)."""
    @property
    def not_after(self) -> datetime.datetime:
        """notAfter (aware, UTC)."""
    @property
    def days_left(self) -> int:
        """Whole days to notAfter (negative when expired)."""
    @property
    def validity_days(self) -> int:
        """Validity period in whole days."""

# ---------------------------------------------------------------- builders

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
        docker_opts: Optional[bool] = None,
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

# ---------------------------------------------------------------- plan / apply / status / reset

_Path = Union[str, os.PathLike[str]]
_Event = dict[str, Any]

@final
class Cluster:
    """A cluster spec bound to where its PKI lives and how to reach its hosts over SSH.

    ``plan``, ``apply``, ``status`` and ``reset`` act like the ``k8s-bootstrap``
    commands of the same name, with the same options and defaults; blocking with
    the GIL released, or as asyncio coroutines (``*_async``).
    """

    def __new__(
        cls,
        spec: ClusterSpec,
        *,
        spec_path: Optional[_Path] = None,
        pki_dir: Optional[_Path] = None,
        known_hosts: Optional[_Path] = None,
        accept_new_host_keys: bool = False,
        connect_timeout: float = 10.0,
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
        connect_timeout: float = 10.0,
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
    def plan(self, *, concurrency: int = 16, only: Optional[Sequence[str]] = None, phase: Optional[str] = None) -> Report:
        """What would change, with diffs; changes nothing."""
    def apply(
        self, *, dry_run: bool = False, concurrency: int = 16, only: Optional[Sequence[str]] = None, phase: Optional[str] = None
    ) -> Report:
        """Brings the cluster to the spec; failed hosts are in the report."""
    def status(self) -> ClusterStatus:
        """The cluster's state; changes nothing."""
    def reset(self, *, purge: bool = False, only: Optional[Sequence[str]] = None) -> Report:
        """Stops and removes what apply installed (etcd's data only with ``purge``)."""
    def plan_async(
        self, *, concurrency: int = 16, only: Optional[Sequence[str]] = None, phase: Optional[str] = None
    ) -> Coroutine[Any, Any, Report]:
        """``plan`` for asyncio."""
    def apply_async(
        self, *, dry_run: bool = False, concurrency: int = 16, only: Optional[Sequence[str]] = None, phase: Optional[str] = None
    ) -> Coroutine[Any, Any, Report]:
        """``apply`` for asyncio."""
    def status_async(self) -> Coroutine[Any, Any, ClusterStatus]:
        """``status`` for asyncio."""
    def reset_async(self, *, purge: bool = False, only: Optional[Sequence[str]] = None) -> Coroutine[Any, Any, Report]:
        """``reset`` for asyncio."""

@final
class Change:
    """One change a host made (apply, reset) or would make (plan)."""

    @property
    def stage(self) -> str:
        """``host-prep``, ``files``, ``install``, ``etcd``, ``flannel-config``, ``flanneld`` or ``docker``."""
    @property
    def what(self) -> str:
        """What changed, for people."""
    @property
    def diff(self) -> Optional[str]:
        """A unified diff (plan only; private keys redacted)."""

@final
class Failure:
    """Why a host failed."""

    @property
    def host(self) -> str:
        """The host."""
    @property
    def stage(self) -> str:
        """The stage it failed in."""
    @property
    def step(self) -> str:
        """The step."""
    @property
    def kind(self) -> str:
        """``host-key``, ``auth``, ``connect``, ``command``, ``transfer`` or ``other``."""
    @property
    def error(self) -> str:
        """The error."""
    @property
    def log(self) -> Optional[str]:
        """The unit's journal when starting it failed."""
    def exception(self) -> TransportError:
        """The mapped exception, not raised."""

@final
class HostReport:
    """The report of one host."""

    @property
    def changes(self) -> list[Change]:
        """Changes made or that would be made."""
    @property
    def unchanged(self) -> int:
        """Steps that found nothing to do."""
    @property
    def notes(self) -> list[str]:
        """Notes."""
    @property
    def failed(self) -> Optional[Failure]:
        """The failure, or None."""
    @property
    def stage_ms(self) -> dict[str, int]:
        """Milliseconds per stage."""
    @property
    def ok(self) -> bool:
        """Whether the host did not fail."""
    def to_dict(self) -> dict[str, _Json]:
        """The core's JSON form."""

@final
class Report:
    """The report of plan, apply or reset."""

    @property
    def dry_run(self) -> bool:
        """Whether nothing was changed."""
    @property
    def hosts(self) -> dict[str, HostReport]:
        """Host name -> HostReport."""
    @property
    def aborted(self) -> Optional[str]:
        """Why a cluster-wide gate stopped the run, or None."""
    @property
    def elapsed_ms(self) -> int:
        """Wall time in milliseconds."""
    @property
    def warnings(self) -> list[str]:
        """Warnings met while getting ready."""
    @property
    def ok(self) -> bool:
        """No host failed and nothing was aborted."""
    @property
    def change_count(self) -> int:
        """Total number of changes."""
    @property
    def failures(self) -> list[Failure]:
        """One per failed host."""
    def raise_for_failure(self) -> None:
        """Raises the first failed host's exception, or K8sBootstrapError when aborted."""
    def to_dict(self) -> dict[str, _Json]:
        """The core's JSON form (``--output json``)."""

@final
class DockerBridge:
    """docker0 against flannel's subnet file on a host."""

    @property
    def flannel_subnet(self) -> Optional[str]:
        """``FLANNEL_SUBNET``."""
    @property
    def docker0(self) -> Optional[str]:
        """docker0's address."""
    @property
    def matches(self) -> bool:
        """Whether both exist and are equal."""

@final
class HostStatus:
    """The state of one host."""

    @property
    def reachable(self) -> bool:
        """Whether the host answered."""
    @property
    def error(self) -> Optional[str]:
        """Why not."""
    @property
    def units(self) -> dict[str, str]:
        """Unit -> ActiveState or ``not-installed``."""
    @property
    def docker_bridge(self) -> Optional[DockerBridge]:
        """When docker runs."""

@final
class EtcdMemberStatus:
    """One etcd endpoint's health."""

    @property
    def endpoint(self) -> str:
        """The client URL."""
    @property
    def healthy(self) -> bool:
        """Whether it answered a health check over TLS."""

@final
class ClusterStatus:
    """The state of a cluster."""

    @property
    def hosts(self) -> dict[str, HostStatus]:
        """Host name -> HostStatus."""
    @property
    def etcd_endpoints(self) -> list[EtcdMemberStatus]:
        """Health of every endpoint."""
    @property
    def etcd_members(self) -> list[str]:
        """Member names, sorted."""
    @property
    def etcd_members_match_spec(self) -> bool:
        """Whether those are the spec's etcd hosts."""
    @property
    def etcd_healthy(self) -> bool:
        """Every endpoint healthy and the members match the spec."""
    @property
    def flannel_config(self) -> Optional[str]:
        """flannel's network config read back from etcd."""
    @property
    def flannel_api(self) -> str:
        """``v2`` or ``v3``."""
    @property
    def problems(self) -> list[str]:
        """What could not be read."""
    @property
    def warnings(self) -> list[str]:
        """Warnings met while getting ready."""
    def to_dict(self) -> dict[str, _Json]:
        """The core's JSON form (``--output json``)."""
