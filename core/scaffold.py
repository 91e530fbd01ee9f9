"""``chinwag new-plugin NAME --kind KIND``: a ready plugin folder to start from.

The folder holds a ``setup.cfg`` with the entry point, a package with the kind's hooks
implemented, a passing test (on chinwag's contract suite where there is one), a sandbox of the
remote API for the kinds that call one, and a README. ``pip install -e FOLDER`` makes it appear
in ``chinwag plugins``. The templates are in ``chinwag.scaffold_templates``.

For a NAME such as ``acme-crm``: the distribution is ``chinwag-acme-crm``, the package
``chinwag_acme_crm``, the entry point (and the key of its settings under ``plugins:``) ``acme_crm``,
and the folder ``acme_crm``.
"""

from __future__ import annotations

import re
from pathlib import Path

import attrs
import click

from .scaffold_templates import KINDS, PYPROJECT, README, SETUP_CFG

NAME = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")


class ScaffoldError(Exception):
    """The plugin cannot be written (a bad name, a folder that exists)."""


@attrs.frozen
class PluginNames:
    """Every name a plugin goes by, from the one its author chose."""

    entry: str  # acme_crm: the entry point, the settings key and the folder
    registered: str  # acme-crm: the name of what the plugin registers

    @classmethod
    def of(cls, name: str) -> PluginNames:
        """The names for ``name`` (lower case letters and digits, words joined by - or _)."""
        bare = name.removeprefix("chinwag-").removeprefix("chinwag_")
        if not NAME.match(bare):
            raise ScaffoldError(f"plugin name {name!r}: use lower-case letters and digits, words joined by - or _ "
                                "(e.g. acme-crm)")
        return cls(entry=bare.replace("-", "_"), registered=bare.replace("_", "-"))

    @property
    def distribution(self) -> str:
        """chinwag-acme-crm."""
        return f"chinwag-{self.registered}"

    @property
    def package(self) -> str:
        """chinwag_acme_crm."""
        return f"chinwag_{self.entry}"

    def replacements(self, kind: str) -> dict[str, str]:
        """Placeholder -> value, for the templates."""
        words = self.entry.split("_")
        return {"__DIST__": self.distribution, "__PACKAGE__": self.package, "__ENTRY__": self.entry,
                "__NAME__": self.registered, "__CLASS__": "".join(word.capitalize() for word in words),
                "__ATTR__": words[0] + "".join(word.capitalize() for word in words[1:]),
                "__ENV__": self.entry.upper(), "__KIND__": kind}


def fill(template: str, replacements: dict[str, str]) -> str:
    """``template`` with every placeholder replaced."""
    for placeholder, value in replacements.items():
        template = template.replace(placeholder, value)
    return template


def write_plugin(name: str, kind: str, directory: Path) -> Path:
    """Write the plugin folder ``directory/<entry name>``; return it. Refuses an existing folder."""
    if kind not in KINDS:
        raise ScaffoldError(f"kind {kind!r}: choose one of {', '.join(KINDS)}")
    names = PluginNames.of(name)
    folder = directory / names.entry
    if folder.exists():
        raise ScaffoldError(f"{folder} exists already: choose another name or directory")
    files, settings, next_steps = KINDS[kind]
    replacements = names.replacements(kind)
    readme = README.replace("__SETTINGS__", settings).replace("__NEXT__", next_steps)
    everything = {"pyproject.toml": PYPROJECT, "setup.cfg": SETUP_CFG, "README.md": readme, **files}
    for relative, template in everything.items():
        path = folder / fill(relative, replacements)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(fill(template, replacements))
    return folder


@click.command(name="new-plugin")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(list(KINDS)), help="What the plugin adds.")
@click.option("--directory", default=".", show_default=True, type=click.Path(file_okay=False, path_type=Path),
              help="Where to write the plugin's folder.")
def new_plugin(name: str, kind: str, directory: Path) -> None:
    """Write a ready plugin folder: setup.cfg, the hooks, a passing test and a README."""
    try:
        folder = write_plugin(name, kind, directory)
    except ScaffoldError as error:
        raise click.UsageError(str(error)) from error
    names = PluginNames.of(name)
    click.echo(f"wrote {folder}: {names.distribution}, kind {kind}, settings under plugins: {names.entry}")
    click.echo(f"next: pip install -e '{folder}[test]' && pytest {folder} && chinwag plugins")
