"""CHAT_TRUSTED_PROXIES with a whole subnet: the haproxy hosts of a cluster (10.201.0.0/24)."""

import os
import subprocess
import sys

import pytest

from chat_project.common.client_ip import client_ip, peer_is_trusted

pytestmark = pytest.mark.unit


def scope(peer: str, forwarded_for: str | None = None) -> dict:
    headers = [(b"x-forwarded-for", forwarded_for.encode())] if forwarded_for else []
    return {"type": "http", "client": [peer, 40000], "headers": headers}


@pytest.mark.parametrize(
    "peer, forwarded_for, expected",
    [
        ("10.201.0.17", "203.0.113.9", "203.0.113.9"),  # any haproxy of the subnet
        ("10.201.0.254", "198.51.100.1, 203.0.113.9", "203.0.113.9"),  # what the client wrote is ignored
        ("10.201.0.3", "10.201.0.2, 203.0.113.9", "203.0.113.9"),
        ("10.201.1.17", "203.0.113.9", "10.201.1.17"),  # next subnet: not a proxy of ours
    ],
)
def test_every_address_of_a_trusted_subnet_is_a_proxy(settings, peer, forwarded_for, expected):
    settings.CHAT_TRUSTED_PROXIES = ["10.201.0.0/24"]
    assert client_ip(scope(peer, forwarded_for)) == expected
    assert peer_is_trusted(scope(peer)) == peer.startswith("10.201.0.")


def test_the_subnet_is_read_from_the_environment():
    code = "from django.conf import settings; print(settings.CHAT_TRUSTED_PROXIES)"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "chat_project.settings",
        "CHAT_TRUSTED_PROXIES": "10.201.0.0/24, ::1",
    }
    out = subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"], env=env, capture_output=True, text=True
    )
    assert out.stdout.strip() == "['10.201.0.0/24', '::1']", out.stderr
