"""README against the module: the directive reference against the command table
(mod_glue/origo_config.c), with every directive documented, none documented that does not exist, and
each row's context as the module registers it (RSRC_CONF: server, ACCESS_CONF: directory); and every
error-log number the module writes explained in the troubleshooting table."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COMMAND = re.compile(r'AP_INIT_\w+\("(?P<name>\w+)",[^\n]*?(?P<where>(?:RSRC_CONF|ACCESS_CONF)(?: \| [A-Z_]+)*),')
ROW = re.compile(r"^\| `(?P<name>\w+)[^`]*` \| (?P<default>[^|]+) \| (?P<context>[^|]+) \| (?P<meaning>.+) \|$")


def commands() -> dict[str, set[str]]:
    text = (REPO / "mod_glue" / "origo_config.c").read_text()
    found = {m["name"]: {w.strip() for w in m["where"].split("|")} for m in COMMAND.finditer(text)}
    assert len(found) >= 15, f"the command table was not read: {sorted(found)}"
    return found


def documented() -> dict[str, re.Match]:
    lines = (REPO / "README.md").read_text().splitlines()
    header = lines.index("| Directive | Default | Context | Meaning |")
    rows = {}
    for line in lines[header + 2:]:
        if not line.startswith("|"):
            break
        m = ROW.match(line)
        assert m, f"README directive row not in the table's form: {line}"
        rows[m["name"]] = m
    return rows


def test_every_directive_is_documented_and_no_other():
    assert set(documented()) == set(commands())


def test_contexts_and_defaults_match_the_module():
    table = commands()
    for name, row in documented().items():
        context, where = row["context"], table[name]
        assert ("server" in context) == ("RSRC_CONF" in where), f"{name}: {context!r} vs {where}"
        assert ("directory" in context) == ("ACCESS_CONF" in where), f"{name}: {context!r} vs {where}"
        assert row["default"].strip(), f"{name}: no default"


def test_every_error_log_number_is_explained():
    """Each ORIGO<number> the module logs has a row in README's troubleshooting table."""
    logged = set()
    for source in (REPO / "mod_glue").glob("*.c"):
        logged |= set(re.findall(r"ORIGO_LOGNO\((\d+)\)", source.read_text()))
    assert len(logged) > 20, sorted(logged)
    readme = (REPO / "README.md").read_text()
    table = readme[readme.index("## Troubleshooting"):]
    table = table[:table.index("\n\n", table.index("| Number |"))]
    explained = set(re.findall(r"ORIGO(\d{5})", table))
    # A row may name a run of numbers as "ORIGO10101 … ORIGO10107".
    for first, last in re.findall(r"ORIGO(\d{5})` … `ORIGO(\d{5})", table):
        explained |= {str(n) for n in range(int(first), int(last) + 1)}
    assert logged <= explained, f"not in README's troubleshooting table: {sorted(logged - explained)}"
