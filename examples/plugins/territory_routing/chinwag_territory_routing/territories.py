"""The CSV of territories: which team takes the leads of a country, or of a region of it.

    country,region,team
    US,CA,us-west          # a region of a country
    US,,us-east            # the rest of the country
    DE,,emea
    *,,global              # everyone else (optional)

Countries and regions are compared as written, ignoring case and surrounding spaces (list both
``US`` and ``United States`` if the dialogue may capture either). The most specific row wins.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import attrs

ANYWHERE = "*"
COLUMNS = ("country", "region", "team")


@attrs.frozen
class Territories:
    """(country, region) -> team, with ``region`` empty for a whole country."""

    teams: Mapping[tuple[str, str], str] = attrs.field(factory=dict)

    def team_for(self, country: Any, region: Any = None) -> str | None:
        """The team of the most specific territory for this country and region, or None."""
        country_key, region_key = _key(country), _key(region)
        if country_key and region_key and (country_key, region_key) in self.teams:
            return self.teams[(country_key, region_key)]
        if country_key and (country_key, "") in self.teams:
            return self.teams[(country_key, "")]
        return self.teams.get((ANYWHERE, ""))


def read_territories(path: Path, known_teams: Iterable[str]) -> tuple[Territories, list[tuple[int | None, str]]]:
    """The territories in ``path`` and its problems, each as (line, message)."""
    problems: list[tuple[int | None, str]] = []
    if not path.is_file():
        return Territories(), [(None, f"{path.name} not found in the project folder")]
    known = set(known_teams)
    teams: dict[tuple[str, str], str] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not reader.fieldnames or not {"country", "team"} <= {name.strip() for name in reader.fieldnames}:
            return Territories(), [(1, f"needs the columns {', '.join(COLUMNS)} (region may be empty)")]
        for line, row in enumerate(reader, start=2):
            row = {str(name).strip(): (value or "").strip() for name, value in row.items() if name is not None}
            country, region, team = _key(row.get("country")), _key(row.get("region")), row.get("team", "")
            if not country or not team:
                problems.append((line, "needs a country (or *) and a team"))
            elif country == ANYWHERE and region:
                problems.append((line, "* means every country: leave its region empty"))
            elif team not in known:
                problems.append((line, f"team {team!r} is not under meetings.teams"))
            elif (country, region) in teams:
                problems.append((line, f"territory {row['country']}{'/' + row['region'] if region else ''} "
                                       "is listed twice"))
            else:
                teams[(country, region)] = team
    return Territories(teams), problems


def _key(value: Any) -> str:
    return str(value).strip().casefold() if value not in (None, "") else ""
