"""Problems found in a project's files, each naming the file, the place and what is wrong."""

from __future__ import annotations

import attrs


@attrs.frozen
class Problem:
    """One thing wrong with a project file."""

    file: str
    line: int | None
    where: str
    message: str

    def __str__(self) -> str:
        location = f"{self.file}:{self.line}" if self.line else self.file
        return f"{location}: {self.where}: {self.message}" if self.where else f"{location}: {self.message}"


class InvalidProject(Exception):
    """The project cannot be served; ``problems`` says why."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(problem) for problem in problems))
        self.problems = problems


class MessageAt(str):
    """A problem message that knows its line. A card type's ``check`` may return these instead
    of plain strings, which are reported at the card's first line."""

    line: int | None

    def __new__(cls, message: str, line: int | None) -> MessageAt:
        made = super().__new__(cls, message)
        made.line = line
        return made
