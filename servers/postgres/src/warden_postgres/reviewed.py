"""The built-in functions of pg_catalog as reviewed for warden-postgres (data/reviewed_functions.txt).

The review, not a function's volatility label, decides what a statement may call: PostgreSQL marks
`crosstab`, `query_to_xml` and `txid_current` STABLE, and `lo_get` VOLATILE. Every built-in function
name sits in exactly one section of the data file:

- `read`, `read volatile`: runs;
- `all schemas`: returns definitions or contents of any object by oid, so it runs only when the schema
  allowlist admits every schema;
- `setting`: current_setting, with a constant name on the list of readable settings only;
- `refuse: <reason>`: never runs.

A built-in name missing from the file (a newer PostgreSQL's) is refused until it is reviewed.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from importlib import resources

READ = "read"
READ_VOLATILE = "read volatile"
ALL_SCHEMAS = "all schemas"
SETTING = "setting"
REFUSE = "refuse: "

SECTIONS = (READ, READ_VOLATILE, ALL_SCHEMAS, SETTING)
"""Every section but the `refuse: <reason>` ones, which carry their reason in the header."""

CANDIDATES_SQL = """
SELECT p.proname::text AS name, p.prokind::text AS kind, p.provolatile::text AS volatility,
       pg_catalog.pg_get_function_identity_arguments(p.oid) AS arguments, p.prorettype::regtype::text AS returns
FROM pg_catalog.pg_proc p
WHERE p.pronamespace = 'pg_catalog'::regnamespace AND p.oid < 16384::oid
ORDER BY 1, 4
"""
"""The functions to review: every built-in function of pg_catalog, one row per overload."""


@dataclass(frozen=True)
class Review:
    """Function name -> the header of the section that lists it."""

    sections: dict[str, str]

    def section(self, name: str) -> str | None:
        return self.sections.get(name)

    def names(self, section: str) -> frozenset[str]:
        return frozenset(name for name, header in self.sections.items() if header == section)

    def runs(self, name: str) -> bool:
        """Whether a call of this built-in needs nothing but the review (no argument or schema condition)."""
        return self.section(name) in {READ, READ_VOLATILE}


def parse(text: str) -> Review:
    """Read the data file's format: `# comments`, `[section]` headers, then one function name per line."""
    sections: dict[str, str] = {}
    header: str | None = None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("[") and line.endswith("]"):
            header = line[1:-1]
            if header not in SECTIONS and not (header.startswith(REFUSE) and len(header) > len(REFUSE)):
                raise ValueError(f"line {number}: unknown section [{header}]")
            continue
        if header is None:
            raise ValueError(f"line {number}: {line!r} comes before any section")
        if line in sections:
            raise ValueError(f"line {number}: {line!r} is listed twice ([{sections[line]}] and [{header}])")
        sections[line] = header
    return Review(sections)


@functools.cache
def load() -> Review:
    return parse(resources.files("warden_postgres").joinpath("data/reviewed_functions.txt").read_text("utf-8"))
