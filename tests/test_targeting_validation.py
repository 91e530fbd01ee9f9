"""``chinwag validate`` knows every targeting key, operator and pattern, and names the line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from chinwag.testing import QUICKSTART, write_project

CHINWAG = [str(Path(sys.executable).parent / "chinwag")]

CARDS = """cards:
  - id: hi
    type: message
    text: Hello
"""

BROKEN = """id: spring
name: Spring campaign
targeting:
  include: [nowhere, "https://*.example.com/folder/*", "ftp://example.com/"]
  exclude: ["*", "utm_campaign="]
  audeince: {attribute: lead.email, op: is_empty}
  audience:
    any:
      - all:
          - {attribute: company.sise, op: gt, value: 50}
          - {attribute: lead.state, op: equals, value: CA}
      - {attribute: visit.country, op: in, value: US}
      - {attribute: company.size, op: gt, value: fifty}
      - {attribute: answer.hi, op: is_empty}
      - {attribute: lead.email, op: is_empty, vaule: x}
  trigger: {time_on_page: -3, scrol: 50, exit_intent: yes please}
""" + CARDS


def validate(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CHINWAG, "validate", str(project)], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ))


def test_every_targeting_mistake_is_an_error_with_its_line(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, dialogues={"spring": BROKEN})
    result = validate(project)
    assert result.returncode != 0
    file = project / "dialogues" / "spring.yaml"
    expected = [
        (4, "targeting.include[0]: 'nowhere' is not a page pattern"),
        (4, "targeting.include[2]: 'ftp://example.com/': the scheme must be http or https"),
        (5, "targeting.exclude[1]: 'utm_campaign=' is not a parameter"),
        (6, "targeting.audeince: unknown key 'audeince' (known: include, exclude, audience, trigger)"),
        (10, "targeting.audience.any[0].all[0]: unknown attribute 'company.sise'"),
        (11, "targeting.audience.any[0].all[1]: unknown op 'equals'"),
        (12, "targeting.audience.any[1]: op 'in' needs a list 'value'"),
        (13, "targeting.audience.any[2]: op 'gt' compares numbers: 'value' must be a number"),
        (14, "targeting.audience.any[3]: unknown attribute 'answer.hi'"),
        (15, "targeting.audience.any[4]: unknown key(s) vaule"),
        (16, "targeting.trigger.time_on_page: must be a number of seconds on the page, from 0 to 3600"),
        (16, "targeting.trigger.scrol: unknown trigger 'scrol'"),
        (16, "targeting.trigger.exit_intent: must be true"),
    ]
    for line, message in expected:
        assert f"{file}:{line}: dialogue 'spring'" in result.stderr
        assert any(text.startswith(f"{file}:{line}: ") and message in text for text in result.stderr.splitlines()), \
            (line, message, result.stderr)
    assert "include[1]" not in result.stderr  # the good pattern is not reported


def test_valid_targeting_passes_and_names_builtin_visit_attributes(tmp_path: Path) -> None:
    good = """id: spring
name: Spring campaign
targeting:
  include: ["https://*.example.com/pricing/*", /blog/*, utm_campaign=spring]
  exclude: [/pricing/enterprise]
  audience:
    any:
      - all: [{attribute: company.size, op: gt, value: 50}, {attribute: visit.country, op: in, value: [US, CA]}]
      - {attribute: lead.email, op: is_empty}
      - {attribute: visit.returning, op: is, value: true}
      - {attribute: visit.device, op: is_not, value: mobile}
      - {attribute: visit.utm_source, op: starts_with, value: news}
      - {attribute: visit.count, op: lt, value: 3}
      - {attribute: person.company, op: contains, value: acme}
      - {attribute: visit.referrer, op: is_not_empty}
  trigger: {time_on_page: 20, time_on_site: 60, scroll: 50, exit_intent: true}
""" + CARDS
    project = write_project(tmp_path / "p", copy_from=QUICKSTART, dialogues={"spring": good})
    result = validate(project)
    assert result.returncode == 0, result.stderr


def test_targeting_settings_in_chinwag_yaml_are_checked_with_their_lines(tmp_path: Path) -> None:
    project = write_project(tmp_path / "p", copy_from=QUICKSTART)
    config = project / "chinwag.yaml"
    config.write_text(config.read_text() + "targeting:\n  country_header: 'CF IPCountry'\n"
                      "  lookup_timeout: 0\n  visit_gap: 30\n")
    lines = config.read_text().splitlines()
    result = validate(project)
    assert result.returncode != 0
    for key, message in (("country_header", "must be an HTTP header name"),
                         ("lookup_timeout", "must be a number from 0.01 to 30"),
                         ("visit_gap", "unknown setting")):
        line = next(number for number, text in enumerate(lines, 1) if text.strip().startswith(f"{key}:"))
        assert f"{config}:{line}: targeting.{key}: {message}" in result.stderr, result.stderr
