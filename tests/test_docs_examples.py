"""The Python examples of the plugin docs are valid Python (the tutorial's are run in full by
``test_tutorial``), so a copied snippet never starts with a syntax error."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
PYTHON_BLOCK = re.compile(r"^```python[^\n]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)


@pytest.mark.parametrize("name", ["plugins.md", "tutorial-plugin.md", "languages.md"])
def test_every_python_example_compiles(name: str) -> None:
    text = (DOCS / name).read_text()
    blocks = PYTHON_BLOCK.findall(text)
    assert len(blocks) >= (15 if name == "plugins.md" else 1)
    for number, block in enumerate(blocks, start=1):
        try:
            compile(block, f"{name} example {number}", "exec")
        except SyntaxError as error:
            pytest.fail(f"{name}, Python example {number}, line {error.lineno}: {error.msg}\n{block}")
