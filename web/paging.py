"""Page numbers and links for long lists, keeping the other query parameters."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

__all__ = ["Pager"]


@dataclass(frozen=True)
class Pager:
    """Where one page sits in a list of ``total`` items shown ``size`` at a time.

    ``number`` is 1-based and may be past the last page (that page is simply empty).
    """

    number: int
    size: int
    total: int
    path: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def offset(self) -> int:
        """How many items come before this page."""
        return (self.number - 1) * self.size

    @property
    def last(self) -> int:
        """The last page number; 1 for an empty list."""
        return max(1, -(-self.total // self.size))

    @property
    def first_item(self) -> int:
        """1-based position of the first item on this page (0 when the page is empty)."""
        return min(self.offset + 1, self.total) if self.total > self.offset else 0

    @property
    def last_item(self) -> int:
        """1-based position of the last item on this page."""
        return min(self.offset + self.size, self.total)

    @property
    def has_previous(self) -> bool:
        """Whether there is a page before this one."""
        return self.number > 1

    @property
    def previous(self) -> int:
        """The page to go back to; from past the end, the last page."""
        return max(1, min(self.number - 1, self.last))

    @property
    def has_next(self) -> bool:
        """Whether there is a page after this one."""
        return self.number < self.last

    def url(self, number: int) -> str:
        """The link to page ``number`` with the same other parameters (search, filters)."""
        query = {k: v for k, v in self.params.items() if v}
        if number > 1:
            query["page"] = str(number)
        return f"{self.path}?{urlencode(query)}" if query else self.path
