"""Targeting's rules without a server: page patterns, audience operators, visit attributes, lookups."""

from __future__ import annotations

import asyncio

import pytest

from chinwag.attributes import Attribute, LookupContext
from chinwag.targeting.audience import AudienceValues, look_up
from chinwag.targeting.pages import PageRules, PatternError, parse_pattern
from chinwag.targeting.settings import TargetingSettings
from chinwag.targeting.visit import device_type, page_attributes


def allowed(include: list[str], url: str, exclude: tuple[str, ...] = ()) -> bool:
    return PageRules.parse(include, exclude).allow(url)


@pytest.mark.parametrize(("pattern", "url", "expected"), [
    # the reference's forms
    ("http://website.com", "http://website.com/", True),
    ("http://website.com", "http://website.com", True),
    ("http://website.com", "http://website.com/about", False),  # no path: the home page only
    ("http://website.com", "https://website.com/", False),  # the scheme given is the scheme matched
    ("https://*.website.com", "https://www.website.com/", True),
    ("https://*.website.com", "https://a.b.website.com/", True),
    ("https://*.website.com", "https://website.com/", True),
    ("https://*.website.com", "https://notwebsite.com/", False),
    ("https://*.website.com", "https://website.com.evil.io/", False),
    ("http://website.com/folder/*", "http://website.com/folder/page", True),
    ("http://website.com/folder/*", "http://website.com/folder/a/b?x=1", True),
    ("http://website.com/folder/*", "http://website.com/folder", True),
    ("http://website.com/folder/*", "http://website.com/folders", False),
    ("http://website.com/folder/*", "http://website.com/other/folder/x", False),
    ("https://*.website.com/folder/*", "https://shop.website.com/folder/x", True),
    ("https://*.website.com/folder/*", "https://shop.website.com/x/folder", False),
    ("*", "https://anything.example/at/all", True),
    # matching ignores case, a trailing slash, the fragment and (unless named) the query
    ("https://Website.com/Pricing", "https://website.com/pricing/#plans", True),
    ("https://website.com/pricing", "https://website.com/pricing?ref=nav", True),
    ("website.com/pricing", "http://website.com/pricing", True),  # no scheme: both
    ("website.com/pricing", "https://website.com/pricing", True),
    ("https://website.com/*", "https://website.com:8443/x", True),  # no port: any port
    ("https://website.com:8443/*", "https://website.com/x", False),
    ("https://*/pricing", "https://any.host.io/pricing", True),
    ("https://website.com/blog/*/comments", "https://website.com/blog/2026/post/comments", True),
    # beyond the reference: paths without a host, and query parameters
    ("/pricing", "https://a.example/pricing", True),
    ("/pricing", "https://a.example/pricing/team", False),
    ("/blog/*", "https://b.example/blog/hello", True),
    ("utm_campaign=spring", "https://a.example/x?utm_campaign=Spring&utm_source=ads", True),
    ("utm_campaign=spring", "https://a.example/x?utm_campaign=summer", False),
    ("utm_campaign=spring", "https://a.example/x", False),
    ("?utm_source=ads&utm_medium=*", "https://a.example/?utm_medium=cpc&utm_source=ads", True),
    ("?utm_source=ads&utm_medium=*", "https://a.example/?utm_source=ads", False),
    ("/pricing?plan=team", "https://a.example/pricing?plan=team", True),
    ("/pricing?plan=team", "https://a.example/pricing?plan=solo", False),
    ("https://website.com/*?ref=news*", "https://website.com/a?ref=newsletter-12", True),
])
def test_page_patterns(pattern: str, url: str, expected: bool) -> None:
    assert allowed([pattern], url) is expected


def test_exclude_wins_over_include_and_no_include_means_every_page() -> None:
    assert allowed([], "https://a.example/anything")
    assert not allowed(["https://a.example/*"], "https://a.example/pricing/enterprise", ("/pricing/enterprise",))
    assert allowed(["https://a.example/*"], "https://a.example/pricing/team", ("/pricing/enterprise",))
    assert not allowed([], "https://a.example/x?utm_source=partner", ("utm_source=partner",))
    assert not allowed(["*"], "https://a.example/", ("*",))
    assert allowed(["/a", "/b"], "https://x.example/b")  # any include will do


@pytest.mark.parametrize(("pattern", "complaint"), [
    ("nowhere", "is not a page pattern"),
    ("", "non-empty"),
    ("https://site.com/a b", "space"),
    ("ftp://site.com/", "scheme must be http or https"),
    ("https:///path", "not a host name"),
    ("https://si_te.com/", "not a host name"),
    ("utm_campaign", "is not a page pattern"),
    ("utm_campaign=", "not a parameter"),
    ("/pricing?plan", "not a parameter"),
    ("?=spring", "not a parameter"),
])
def test_malformed_patterns_are_refused_with_a_reason(pattern: str, complaint: str) -> None:
    with pytest.raises(PatternError, match=complaint):
        parse_pattern(pattern)


@pytest.mark.parametrize(("condition", "expected"), [
    ({"attribute": "lead.state", "op": "is", "value": "ca"}, True),  # text compares without case
    ({"attribute": "lead.state", "op": "is", "value": "NY"}, False),
    ({"attribute": "lead.state", "op": "is_not", "value": "NY"}, True),
    ({"attribute": "lead.state", "op": "is_not", "value": "CA"}, False),
    ({"attribute": "lead.email", "op": "is_empty"}, True),  # anonymous
    ({"attribute": "person.email", "op": "is_empty"}, False),
    ({"attribute": "person.email", "op": "is_not_empty"}, True),
    ({"attribute": "lead.email", "op": "is_not_empty"}, False),
    ({"attribute": "company.name", "op": "contains", "value": "corp"}, True),
    ({"attribute": "company.name", "op": "contains", "value": "inc"}, False),
    ({"attribute": "company.name", "op": "starts_with", "value": "acme"}, True),
    ({"attribute": "company.name", "op": "starts_with", "value": "corp"}, False),
    ({"attribute": "company.size", "op": "gt", "value": 50}, True),
    ({"attribute": "company.size", "op": "gt", "value": 120}, False),
    ({"attribute": "company.size", "op": "lt", "value": 500}, True),
    ({"attribute": "company.size", "op": "lt", "value": 120}, False),
    ({"attribute": "lead.firstName", "op": "gt", "value": 1}, False),  # no number: never greater
    ({"attribute": "lead.state", "op": "in", "value": ["CA", "OR", "WA"]}, True),
    ({"attribute": "lead.state", "op": "in", "value": ["NY", "NJ"]}, False),
    ({"attribute": "visit.returning", "op": "is", "value": True}, True),
    ({"attribute": "visit.count", "op": "gt", "value": 2}, True),
    ({"attribute": "visit.count", "op": "gt", "value": 3}, False),
])
def test_each_operator(condition: dict, expected: bool) -> None:
    values = AudienceValues({"lead.state": "CA", "lead.firstName": "Ada", "person.email": "ada@acme.test",
                             "company.name": "Acme Corp", "company.size": 120},
                            {"visit.returning": True, "visit.count": 3})
    assert values.holds(condition) is expected


def test_groups_with_all_and_any() -> None:
    audience = {"any": [
        {"all": [{"attribute": "company.size", "op": "gt", "value": 50},
                 {"attribute": "visit.country", "op": "is", "value": "US"}]},
        {"all": [{"attribute": "lead.email", "op": "is_empty"}, {"attribute": "visit.utm_campaign", "op": "is", "value": "spring"}]},
    ]}
    big_american = AudienceValues({"company.size": 900, "lead.email": "a@b.test"}, {"visit.country": "US"})
    big_french = AudienceValues({"company.size": 900, "lead.email": "a@b.test"}, {"visit.country": "FR"})
    anonymous_from_campaign = AudienceValues({}, {"visit.utm_campaign": "Spring"})
    anonymous = AudienceValues({}, {})
    assert big_american.holds(audience) and anonymous_from_campaign.holds(audience)
    assert not big_french.holds(audience) and not anonymous.holds(audience)
    assert anonymous.holds(None)  # no audience: everyone


@pytest.mark.parametrize(("user_agent", "device"), [
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36", "desktop"),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15", "desktop"),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "mobile"),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36", "mobile"),
    ("Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148", "tablet"),
    ("Mozilla/5.0 (Linux; Android 14; SM-X910) AppleWebKit/537.36 Chrome/126.0 Safari/537.36", "tablet"),
    (None, None),
])
def test_device_type_from_the_user_agent(user_agent: str | None, device: str | None) -> None:
    assert device_type(user_agent) == device


def test_page_attributes_read_utm_parameters_and_only_the_configured_location_headers() -> None:
    headers = {"user-agent": "Mozilla/5.0 (iPhone) Mobile", "cf-ipcountry": "DE", "x-region": "BE"}
    url = "https://a.example/?UTM_Source=news&utm_campaign=spring&other=1"
    assert page_attributes(url, headers, TargetingSettings()) == {
        "visit.utm_source": "news", "visit.utm_campaign": "spring", "visit.device": "mobile"}
    configured = TargetingSettings(country_header="CF-IPCountry", region_header="X-Region")
    assert page_attributes(url, headers, configured)["visit.country"] == "DE"
    assert page_attributes(url, headers, configured)["visit.region"] == "BE"


async def test_lookups_run_together_and_a_slow_or_failing_one_counts_as_no_answer() -> None:
    never = asyncio.Event()

    async def score(context: LookupContext) -> int:
        return 80 if context.lead.get("lead.email") == "ada@acme.test" else 10

    async def hangs(context: LookupContext) -> str:
        await never.wait()
        return "never"

    async def fails(context: LookupContext) -> str:
        raise RuntimeError("CRM down")

    attributes = [Attribute("person.score", "number", lookup=score),
                  Attribute("person.segment", lookup=hangs, timeout=0.2),
                  Attribute("person.tier", lookup=fails),
                  Attribute("lead.firstName")]  # no lookup: not called
    context = LookupContext("v_1", {"lead.email": "ada@acme.test"}, {}, app=None)
    answers = await look_up(attributes, context, longest=5)
    assert answers == {"person.score": 80}
    values = AudienceValues({"person.segment": "stored segment"}, {}, answers)
    assert values.value("person.segment") == "stored segment"  # no answer in time: the stored value
    assert values.holds({"attribute": "person.score", "op": "gt", "value": 50})
    # the project's ceiling applies even when an attribute asks for longer
    patient = Attribute("person.segment", lookup=hangs, timeout=3600)
    assert await look_up([patient], context, longest=0.2) == {}


def test_a_crafted_address_cannot_make_matching_backtrack() -> None:
    # With a backtracking regular expression this pair takes longer than any test run (the
    # matcher would try every way to split 2,000 characters seven ways); part by part it is instant.
    rules = PageRules.parse(["/a*a*a*a*a*a*a*b", "utm_campaign=*x*x*x*x*x*y"])
    assert not rules.allow("https://a.example/" + "a" * 2000)
    assert rules.allow("https://a.example/" + "a" * 2000 + "b")
    assert not rules.allow("https://a.example/?utm_campaign=" + "x" * 2000)
    assert rules.allow("https://a.example/?utm_campaign=" + "x" * 2000 + "y")
