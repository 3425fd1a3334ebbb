#!/usr/bin/env python3
"""Regenerates the settings table of docs/configuration.md from the
settings_doc! table in crates/latchkey/src/settings.rs (a test checks that
the two agree)."""
import pathlib
import re

root = pathlib.Path(__file__).resolve().parent.parent
src = (root / "crates/latchkey/src/settings.rs").read_text()
block = src[src.index("settings_doc! {"):]
rows = re.findall(r'^\s*"([^"]+)" (\w+) "([^"]*)" "((?:[^"\\]|\\.)*)";', block, re.M)
doc_path = root / "docs/configuration.md"
lines = doc_path.read_text().split("\n")
start = lines.index("| key | kind | default | meaning |")
end = start + 2
while end < len(lines) and lines[end].startswith("| `"):
    end += 1
table = [f"| `{k}` | {kind.lower()} | {d} | {doc.replace(chr(92) + chr(34), chr(34))} |" for k, kind, d, doc in rows]
doc_path.write_text("\n".join(lines[: start + 2] + table + lines[end:]))
print(f"{len(rows)} settings")
