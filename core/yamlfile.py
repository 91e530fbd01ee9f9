"""YAML loading that remembers where each key stood, so errors can name the line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class SourceMap(dict):
    """A mapping read from YAML; ``line_of(key)`` gives the 1-based line the key stood on."""

    lines: dict[Any, int]
    start_line: int

    def line_of(self, key: Any) -> int:
        """The line of ``key``, or of the mapping itself when the key is absent."""
        return self.lines.get(key, self.start_line)


class SourceList(list):
    """A sequence read from YAML; ``line_of(index)`` gives the line of that item."""

    lines: list[int]
    start_line: int

    def line_of(self, index: int) -> int:
        """The line of item ``index``, or of the sequence itself."""
        return self.lines[index] if 0 <= index < len(self.lines) else self.start_line


class YamlError(Exception):
    """A YAML file could not be parsed; ``line`` is 1-based."""

    def __init__(self, path: Path, line: int | None, message: str) -> None:
        super().__init__(f"{path}:{line or '?'}: {message}")
        self.path, self.line, self.message = path, line, message


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> SourceMap:  # type: ignore[override]
        self.flatten_mapping(node)
        result = SourceMap()
        result.lines = {}
        result.start_line = node.start_mark.line + 1
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in result:
                raise yaml.MarkedYAMLError(problem=f"duplicate key {key!r}", problem_mark=key_node.start_mark)
            result[key] = self.construct_object(value_node, deep=True)
            result.lines[key] = key_node.start_mark.line + 1
        return result

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> SourceList:  # type: ignore[override]
        result = SourceList(self.construct_object(child, deep=True) for child in node.value)
        result.lines = [child.start_mark.line + 1 for child in node.value]
        result.start_line = node.start_mark.line + 1
        return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _Loader.construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _Loader.construct_sequence)


def load_yaml(path: Path) -> Any:
    """Parse ``path``; mappings come back as ``SourceMap`` and sequences as ``SourceList``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise YamlError(path, None, f"cannot read: {error.strerror}") from error
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        raise YamlError(path, mark.line + 1 if mark else None, str(error.problem or error)) from error
    except yaml.YAMLError as error:
        raise YamlError(path, None, str(error)) from error


def line_of(node: Any, key: Any) -> int | None:
    """The line of ``key`` inside ``node`` when ``node`` came from YAML, else None."""
    finder = getattr(node, "line_of", None)
    return finder(key) if finder else None
