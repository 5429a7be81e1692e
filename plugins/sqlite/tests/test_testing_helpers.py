"""The conformance suite's own machinery: server_url's skip / fail rule and what the star-import exports."""

import importlib

import pytest
from dataflow.testing import fixtures, server_url


@pytest.mark.parametrize("kind", ["postgresql", "mysql"])
def test_server_url_skips_locally_when_unreachable(monkeypatch, kind):
    env = {"postgresql": "DATAFLOW_TEST_POSTGRES_URL", "mysql": "DATAFLOW_TEST_MYSQL_URL"}[kind]
    monkeypatch.setenv(env, f"{kind}://root@127.0.0.1:1/test")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as info:
        server_url(kind)
    assert env in str(info.value) and "127.0.0.1:1" in str(info.value)


def test_server_url_fails_under_ci(monkeypatch):
    monkeypatch.setenv("DATAFLOW_TEST_MYSQL_URL", "mysql://root@127.0.0.1:1/test")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        server_url("mariadb")


def test_server_url_defaults_and_unknown_kind(monkeypatch):
    monkeypatch.delenv("DATAFLOW_TEST_POSTGRES_URL", raising=False)
    monkeypatch.delenv("CI", raising=False)
    try:
        assert server_url("postgres") == "postgresql://root@127.0.0.1:5432/test"
    except pytest.skip.Exception as skipped:  # no local server: the reason names the default URL
        assert "127.0.0.1:5432" in str(skipped)
    with pytest.raises(ValueError):
        server_url("oracle")


def test_star_import_exports_every_suite_test_and_the_fixtures():
    suite = importlib.import_module("dataflow.testing.suite")
    exported = set(suite.__all__)
    assert set(fixtures.FIXTURE_NAMES) <= exported
    total = 0
    for name in suite.MODULES:
        module = importlib.import_module(f"dataflow.testing.suite.{name}")
        assert module.__all__, name
        assert set(module.__all__) <= exported
        total += len(module.__all__)
    assert len(exported) == total + len(fixtures.FIXTURE_NAMES)  # no name shadowed another
    assert not {n for n in exported if not n.startswith("test_")} - set(fixtures.FIXTURE_NAMES)
