"""Keep the README's settings tables and meltano.yml's settings in step with the plugins.

The plugins' own `--about` output is the single source: `make docs` (this module with
`--write`) rewrites the settings tables between the README's `<generated:…>` markers and each
plugin's `settings:` list in meltano.yml; the test suite runs `check()` and fails when either
has drifted. meltano.yml is compared as data, not text: `meltano select` and `meltano config`
rewrite the file in their own layout.
"""

from __future__ import annotations

import argparse
import json
import re

import yaml
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
    # Not Meltano's `decimal`: Meltano 4.4 turns a decimal from an environment variable
    # into a Decimal it then cannot write as JSON (a traceback before the plugin starts).
    # As strings, numbers reach the tap as text, which it parses and range-checks.
    return {"number": "string"}.get(kind, kind) if kind in {
        "string", "integer", "boolean", "number", "array", "object"} else "string"


def meltano_settings(plugin: str) -> list[dict]:
    """meltano.yml `settings:` entries for every setting the plugin's config schema declares."""
    settings = []
    for name, schema in about(plugin)["settings"]["properties"].items():
        label = schema.get("title") or name.replace("_", " ").title()
        entry = {"name": name, "label": label,
                 "description": " ".join((schema.get("description") or label).split()),
                 "kind": _kind(schema)}
        if entry["kind"] == "options":
            entry["options"] = [{"label": str(v), "value": v} for v in schema["enum"]]
        if schema.get("secret") or schema.get("sensitive"):
            entry["sensitive"] = True
        settings.append(entry)
    return settings


def meltano_settings_yaml(plugin: str, indent: str = "    ") -> str:
    lines = [f"{indent}settings:"]
    for entry in meltano_settings(plugin):
        lines.append(f"{indent}- name: {entry['name']}")
        for key in ("label", "description", "kind"):
            value = entry[key] if key == "kind" else json.dumps(entry[key])
            lines.append(f"{indent}  {key}: {value}")
        if "options" in entry:
            lines.append(f"{indent}  options:")
            for option in entry["options"]:
                lines.append(f"{indent}  - {{label: {json.dumps(option['label'])}, "
                             f"value: {json.dumps(option['value'])}}}")
        if entry.get("sensitive"):
            lines.append(f"{indent}  sensitive: true")
    return "\n".join(lines)


def _replace_settings_list(text: str, plugin: str) -> str:
    """Swap the `settings:` list of `plugin` in meltano.yml text for the generated one."""
    lines = text.splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines)
                  if re.fullmatch(rf"\s*- name: {re.escape(plugin)}\s*", line)), None)
    if start is None:
        raise SystemExit(f"settings_docs: plugin {plugin} not found in meltano.yml")
    begin = next((i for i in range(start + 1, len(lines))
                  if re.match(r"\s*settings:", lines[i])
                  or re.match(r"\s*- name: ", lines[i])), None)
    if begin is None or not re.match(r"\s*settings:", lines[begin]):
        raise SystemExit(f"settings_docs: {plugin} in meltano.yml has no settings: key")
    indent = len(lines[begin]) - len(lines[begin].lstrip())
    end = begin + 1
    while end < len(lines):
        line = lines[end]
        depth = len(line) - len(line.lstrip())
        if line.strip() and (depth < indent or (depth == indent and not line.lstrip().startswith("- "))):
            break
        end += 1
    body = meltano_settings_yaml(plugin, indent=" " * indent) + "\n"
    return "".join(lines[:begin]) + body + "".join(lines[end:])


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
        meltano_yml = _replace_settings_list(meltano_yml, plugin)
    return readme, meltano_yml


def declared_in_meltano_yml(plugin: str) -> list[dict]:
    project = yaml.safe_load(MELTANO_YML.read_text())
    plugins = project["plugins"]["extractors"] + project["plugins"]["loaders"]
    return next(p for p in plugins if p["name"] == plugin).get("settings", [])


def check() -> list[str]:
    """Names of the files whose settings differ from the plugins' `--about`."""
    stale = []
    if render()[0] != README.read_text():
        stale.append("README.md")
    if any(declared_in_meltano_yml(p) != meltano_settings(p) for p in PLUGINS):
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
