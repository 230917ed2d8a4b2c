"""CHAT_ROLES: the programs of one host of a cluster (scripts/run.py)."""

import configparser

import pytest

from scripts import run

pytestmark = pytest.mark.unit


def sections(path) -> configparser.RawConfigParser:
    parser = configparser.RawConfigParser(strict=False)
    parser.read(path)
    return parser


def test_every_role_runs_the_file_itself(monkeypatch):
    monkeypatch.delenv("CHAT_ROLES", raising=False)
    assert run.roles() == ["web", "realtime", "delayed", "retry", "webpush"]
    assert run.render_config(run.roles(), "/nonexistent") == run.CONFIG


def test_a_worker_host_runs_no_web_and_only_its_workers(monkeypatch, tmp_path):
    monkeypatch.setenv("CHAT_ROLES", "delayed, realtime")
    chosen = run.roles()
    assert chosen == ["realtime", "delayed"]
    config = sections(run.render_config(chosen, str(tmp_path)))
    assert "program:web" not in config
    assert "program:retry" not in config
    assert "program:webpush" not in config
    assert config["group:workers"]["programs"] == "realtime,delayed"
    # Beat goes with the delayed role; paths point at the project, not the run directory.
    assert "--beat" in config["program:delayed"]["command"]
    assert config["program:realtime"]["command"].startswith(str(run.CONFIG.parent) + "/../.venv/bin/celery")
    assert config["program:realtime"]["autorestart"] == "true"


def test_a_web_only_host_has_no_worker_group(monkeypatch, tmp_path):
    monkeypatch.setenv("CHAT_ROLES", "web")
    config = sections(run.render_config(run.roles(), str(tmp_path)))
    assert "program:web" in config
    assert "group:workers" not in config
    assert "program:delayed" not in config


def test_an_unknown_role_is_refused(monkeypatch):
    monkeypatch.setenv("CHAT_ROLES", "web,beat")
    with pytest.raises(SystemExit, match="CHAT_ROLES"):
        run.roles()
