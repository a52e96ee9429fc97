"""Keep the README's settings tables and meltano.yml's settings in step with the plugins.

The plugins' own `--about` output is the single source: `make docs` (this module with
`--write`) rewrites the generated regions of README.md and meltano.yml; the test suite runs
`check()` and fails when either has drifted.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ("tap-insightly", "target-webhook")
README = PROJECT_ROOT / "README.md"
MELTANO_YML = PROJECT_ROOT / "meltano.yml"


def _run(plugin: str, fmt: str) -> str:
    executable = Path(sys.executable).parent / plugin
    proc = subprocess.run([str(executable), "--about", f"--format={fmt}"], capture_output=True,
                          text=True, check=True, cwd=PROJECT_ROOT)
    return proc.stdout


def about(plugin: str) -> dict:
    return json.loads(_run(plugin, "json"))


def settings_table(plugin: str) -> str:
    """The settings table of `--about --format=markdown` (its first table, header included)."""
    lines = _run(plugin, "markdown").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| Setting"))
    end = start
    while end < len(lines) and lines[end].startswith("|"):
        end += 1
    return "\n".join(lines[start:end])


def _kind(schema: dict) -> str:
    types = schema.get("type", "string")
    types = [types] if isinstance(types, str) else [t for t in types if t != "null"]
    kind = types[0] if types else "string"
    if kind == "string" and schema.get("enum"):
        return "options"
    if kind == "string" and schema.get("format") == "date-time":
        return "date_iso8601"
    return {"number": "decimal"}.get(kind, kind) if kind in {
        "string", "integer", "boolean", "number", "array", "object"} else "string"


def meltano_settings_yaml(plugin: str, indent: str = "    ") -> str:
    """meltano.yml `settings:` entries for every setting the plugin's config schema declares."""
    properties = about(plugin)["settings"]["properties"]
    out = [f"{indent}settings:"]
    for name, schema in properties.items():
        label = schema.get("title") or name.replace("_", " ").title()
        description = " ".join((schema.get("description") or label).split())
        out.append(f"{indent}- name: {name}")
        out.append(f"{indent}  label: {json.dumps(label)}")
        out.append(f"{indent}  description: {json.dumps(description)}")
        kind = _kind(schema)
        out.append(f"{indent}  kind: {kind}")
        if kind == "options":
            out.append(f"{indent}  options:")
            for value in schema["enum"]:
                out.append(f"{indent}  - {{label: {json.dumps(str(value))}, value: {json.dumps(value)}}}")
        if schema.get("secret") or schema.get("sensitive"):
            out.append(f"{indent}  sensitive: true")
    return "\n".join(out)


def _replace_region(text: str, marker: str, body: str) -> str:
    pattern = re.compile(
        rf"(?P<start>[^\n]*<generated:{marker}>[^\n]*\n).*?(?P<end>[^\n]*</generated:{marker}>)",
        re.S,
    )
    if not pattern.search(text):
        raise SystemExit(f"settings_docs: marker <generated:{marker}> not found")
    return pattern.sub(lambda m: m["start"] + body + "\n" + m["end"], text, count=1)


def render() -> tuple[str, str]:
    readme, meltano_yml = README.read_text(), MELTANO_YML.read_text()
    for plugin in PLUGINS:
        readme = _replace_region(readme, f"{plugin}-settings", settings_table(plugin))
        meltano_yml = _replace_region(meltano_yml, f"{plugin}-settings",
                                      meltano_settings_yaml(plugin))
    return readme, meltano_yml


def check() -> list[str]:
    """Names of the files whose generated regions differ from the plugins' `--about`."""
    readme, meltano_yml = render()
    stale = []
    if readme != README.read_text():
        stale.append("README.md")
    if meltano_yml != MELTANO_YML.read_text():
        stale.append("meltano.yml")
    return stale


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated regions")
    args = parser.parse_args()
    if args.write:
        readme, meltano_yml = render()
        README.write_text(readme)
        MELTANO_YML.write_text(meltano_yml)
        return 0
    stale = check()
    if stale:
        print(f"settings out of date in {', '.join(stale)}: run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
