"""Checking a plugin's settings: each problem names the key, its line and what is expected."""

from __future__ import annotations

from pathlib import Path

from chinwag.calendars import RetryPolicy
from chinwag.plugin_settings import HTTP_CLIENT_LIMITS, SettingsCheck, is_http_url, retry_policy
from chinwag.yamlfile import load_yaml


def test_checks_report_in_order_with_key_and_line(tmp_path: Path) -> None:
    path = tmp_path / "chinwag.yaml"
    path.write_text("plugins:\n  crm:\n    client_id: ''\n    url: ftp://crm\n    timeout: true\n    colour: red\n")
    source = load_yaml(path)["plugins"]["crm"]
    check = SettingsCheck("crm", dict(source), str(path), source)
    check.unknown_keys(["client_id", "url", "timeout"])
    check.required_text(["client_id", "client_secret"], "is required")
    check.http_urls(["url"])
    check.numbers(HTTP_CLIENT_LIMITS)
    check.problem("url", "one of the plugin's own checks")
    assert [(p.line, p.where, p.message) for p in check.problems] == [
        (6, "plugins.crm.colour", "unknown setting (known: client_id, timeout, url)"),
        (3, "plugins.crm.client_id", "is required"),
        (3, "plugins.crm.client_secret", "is required"),  # absent: where the section starts
        (4, "plugins.crm.url", "must be an http:// or https:// URL"),
        (5, "plugins.crm.timeout", "must be a number from 0.1 to 300"),
        (4, "plugins.crm.url", "one of the plugin's own checks"),
    ]
    assert str(check.problems[0]) == f"{path}:6: plugins.crm.colour: unknown setting (known: client_id, timeout, url)"


def test_numbers_respect_range_and_whole_numbers() -> None:
    check = SettingsCheck("crm", {"max_retries": 2.5, "retry_base_delay": 61, "retry_max_delay": 0}, "chinwag.yaml")
    check.numbers(HTTP_CLIENT_LIMITS)
    assert {p.where: p.message for p in check.problems} == {
        "plugins.crm.max_retries": "must be a whole number from 0 to 10",
        "plugins.crm.retry_base_delay": "must be a number from 0 to 60",
    }
    assert check.problems[0].line is None  # no YAML source given


def test_http_urls_need_a_scheme_and_a_host() -> None:
    assert is_http_url("https://api.example.com/v1") and is_http_url("http://127.0.0.1:8701")
    assert not is_http_url("ftp://example.com") and not is_http_url("https://") and not is_http_url(42)


def test_retry_policy_from_settings_keeps_defaults_for_missing_keys() -> None:
    assert retry_policy({}) == RetryPolicy()
    policy = retry_policy({"max_retries": 2, "retry_max_delay": 5})
    assert (policy.max_retries, policy.base_delay, policy.max_delay) == (2, RetryPolicy().base_delay, 5.0)


def test_provider_client_is_required_unless_the_sandbox_brings_one() -> None:
    def problems(config: dict) -> dict[str, str]:
        check = SettingsCheck("calendar", config, "chinwag.yaml")
        check.provider_client(["client_id", "client_secret"], "the vendor's console")
        return {problem.where: problem.message for problem in check.problems}

    missing = problems({"client_id": "abc"})
    assert missing == {"plugins.calendar.client_secret": "is required: the vendor's console (read secrets with $env)"}
    assert problems({"sandbox": True}) == {}
    assert problems({"sandbox": "yes", "client_id": "a", "client_secret": "b"}) == {
        "plugins.calendar.sandbox": "must be true or false (true serves a stand-in for the vendor inside chinwag, for demos)"}
