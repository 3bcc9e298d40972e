"""The one error of `clickflow migrate` and of reading a job directory (no grammar needed: Managed Flink
loads job directories without lark)."""

from __future__ import annotations


class MigrateError(Exception):
    """What ``clickflow migrate`` cannot read or translate: a message, and where (line, column) it is."""

    def __init__(self, message: str, line: int | None = None, column: int | None = None, source: str = "") -> None:
        self.message, self.line, self.column, self.source = message, line, column, source
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.source
        if self.line is not None:
            where += f"{':' if where else ''}line {self.line}" + (f", column {self.column}" if self.column else "")
        return f"{where}: {self.message}" if where else self.message

    def located(self, source: str) -> MigrateError:
        """The same error, naming the file it is in."""
        return MigrateError(self.message, self.line, self.column, source)
