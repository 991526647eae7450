"""The exception hierarchy and the mapping of core transport errors."""

import builtins
import importlib
from typing import Any

import pytest

import k8s_bootstrap as kb
# The compiled module; its private test hook is not re-exported.
native: Any = importlib.import_module("k8s_bootstrap.k8s_bootstrap")


def test_hierarchy() -> None:
    assert issubclass(kb.K8sBootstrapError, Exception)
    assert issubclass(kb.ValidationError, kb.K8sBootstrapError)
    assert issubclass(kb.ValidationError, ValueError)
    assert issubclass(kb.PkiError, kb.K8sBootstrapError)
    assert issubclass(kb.RenderError, kb.K8sBootstrapError)
    assert issubclass(kb.TransportError, kb.K8sBootstrapError)
    for cls in (kb.HostKeyError, kb.AuthenticationError, kb.ConnectionError, kb.CommandError):
        assert issubclass(cls, kb.TransportError)
        assert cls.__module__ == "k8s_bootstrap"
        assert cls.__doc__
    assert issubclass(kb.ConnectionError, builtins.ConnectionError)
    assert not issubclass(kb.TransportError, ValueError)


@pytest.mark.parametrize(
    "kind, cls, attrs",
    [
        ("connect", kb.ConnectionError, {"host": "etcd01", "reason": "connection refused", "timeout": None}),
        ("connect-timeout", kb.ConnectionError, {"host": "etcd01", "timeout": 10.0}),
        ("ssh", kb.ConnectionError, {"host": "etcd01", "reason": "connection lost"}),
        ("auth", kb.AuthenticationError, {"host": "etcd01", "user": "root", "tried": "~/.ssh/id_ed25519"}),
        ("host-key-unknown", kb.HostKeyError, {"fingerprint": "SHA256:abc", "expected": None, "known_hosts": "/root/.ssh/known_hosts"}),
        ("host-key-mismatch", kb.HostKeyError, {"fingerprint": "SHA256:abc", "expected": "SHA256:def"}),
        (
            "command-failed",
            kb.CommandError,
            {"host": "etcd01", "command": "systemctl start etcd", "exit_code": 1, "stderr": "Job for etcd.service failed", "timeout": None},
        ),
        ("timeout", kb.CommandError, {"command": "sleep 100", "exit_code": None, "timeout": 5.0}),
        ("transfer", kb.TransportError, {"host": "etcd01"}),
        ("invalid-input", kb.TransportError, {"host": None}),
    ],
)
def test_transport_mapping(kind: str, cls: type, attrs: dict[str, Any]) -> None:
    e: BaseException = native._transport_error_sample(kind)
    assert type(e) is cls
    for k, v in attrs.items():
        assert getattr(e, k) == v, k
    with pytest.raises(kb.TransportError):
        raise e


def test_validation_error_attributes_exist_on_class() -> None:
    for a in ("path", "value", "rule", "fix", "line", "column", "problems"):
        assert getattr(kb.ValidationError, a) is None
    e = kb.ValidationError("plain")  # constructible from Python too
    assert str(e) == "plain" and e.path is None


def test_version() -> None:
    from importlib.metadata import version

    assert kb.__version__ == version("k8s-bootstrap")
