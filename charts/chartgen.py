#!/usr/bin/env python3
"""Generates a chart's values.schema.json and the values table of its README.md from values.yaml.

values.yaml is the one source: each documented key has a comment block above it that starts with `# --`
(the description, possibly over several lines) and may carry `# @schema {json}` with JSON Schema rules
that refine what the default value's type implies (enum, minimum, pattern, items, ...).

Rules, so that the schema is strict by default:
- a map whose keys are documented one by one is a closed object (`additionalProperties: false`);
- a documented map is free-form (its default is an example), unless `@schema` says otherwise;
- every leaf needs a `# --` description, and a `null` default needs a `@schema` type.

Usage: chartgen.py CHART_DIR [CHART_DIR...]   (make generate runs it for every chart)
"""

import json
import re
import sys
from pathlib import Path

import yaml

KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?P<rest>.*)$")
START, END = "<!-- values-table:start -->", "<!-- values-table:end -->"


class Doc:
    """What the comments above one key say."""

    def __init__(self):
        self.description = []
        self.schema = {}


def parse_docs(text):
    """Maps each key path (tuple) to its Doc, following indentation; list items are not descended."""
    docs, stack, pending = {}, [], None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("# --"):
            pending = Doc()
            pending.description.append(stripped[4:].strip())
            continue
        if stripped.startswith("# @schema"):
            if pending is None:
                pending = Doc()
            try:
                pending.schema.update(json.loads(stripped[len("# @schema"):]))
            except json.JSONDecodeError as error:
                sys.exit(f"values.yaml:{number}: bad @schema JSON: {error}")
            continue
        if stripped.startswith("#"):
            if pending is not None and pending.description and not pending.schema:
                pending.description.append(stripped[1:].strip())
            continue
        match = KEY.match(line)
        if not match:
            continue
        indent = len(match["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = tuple(k for _, k in stack) + (match["key"],)
        stack.append((indent, match["key"]))
        if pending is not None:
            docs[path] = pending
        pending = None
    return docs


def json_type(value, path):
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    sys.exit(f"values.yaml: {'.'.join(path)} is null: give it a `# @schema {{\"type\": ...}}`")


def schema_for(value, path, docs):
    """The JSON Schema of one value (recursing into closed objects)."""
    doc = docs.get(path)
    schema = {}
    if doc is None and path and not isinstance(value, dict):
        sys.exit(f"values.yaml: {'.'.join(path)} has no `# --` description")
    if doc is not None and doc.description:
        schema["description"] = " ".join(doc.description)
    closed = isinstance(value, dict) and (doc is None or "properties" in doc.schema)
    if doc is None or "type" not in doc.schema:
        schema["type"] = json_type(value, path)
    if closed:
        schema["additionalProperties"] = False
        schema["properties"] = {k: schema_for(v, path + (k,), docs) for k, v in value.items()}
    if doc is not None:
        schema.update(doc.schema)
    return schema


def root_schema(values, docs, chart):
    properties = {k: schema_for(v, (k,), docs) for k, v in values.items()}
    # Helm hands every chart a `global` map when it is a subchart.
    properties["global"] = {"type": "object", "description": "Values shared with a parent chart."}
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": f"Values of the {chart} chart",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }


def rows(value, path, docs):
    """README rows (key, type, default, description) for every documented leaf, in file order."""
    doc = docs.get(path)
    if isinstance(value, dict) and (doc is None or "properties" in doc.schema):
        for key, child in value.items():
            yield from rows(child, path + (key,), docs)
        return
    kind = doc.schema["type"] if doc and "type" in doc.schema else json_type(value, path)
    if isinstance(kind, list):
        kind = " or ".join(kind)
    default = json.dumps(value, separators=(", ", ": "))
    description = " ".join(doc.description)
    if "enum" in doc.schema:
        description += " One of: " + ", ".join(f"`{v}`" for v in doc.schema["enum"]) + "."
    yield ".".join(path), kind, default, description


def table(values, docs):
    lines = ["| Key | Type | Default | Description |", "|---|---|---|---|"]
    for key, kind, default, description in rows(values, (), docs):
        default = default.replace("|", "\\|")
        description = description.replace("|", "\\|")
        lines.append(f"| `{key}` | {kind} | `{default}` | {description} |")
    return "\n".join(lines)


def generate(chart_dir):
    chart_dir = Path(chart_dir)
    text = (chart_dir / "values.yaml").read_text()
    values = yaml.safe_load(text) or {}
    docs = parse_docs(text)
    chart = yaml.safe_load((chart_dir / "Chart.yaml").read_text())["name"]
    schema = root_schema(values, docs, chart)
    (chart_dir / "values.schema.json").write_text(json.dumps(schema, indent=2) + "\n")

    readme = chart_dir / "README.md"
    current = readme.read_text()
    if START not in current or END not in current:
        sys.exit(f"{readme}: add the {START} and {END} markers where the values table goes")
    head, rest = current.split(START, 1)
    _, tail = rest.split(END, 1)
    note = "<!-- Generated by `make generate` from values.yaml (charts/chartgen.py); edit values.yaml instead. -->"
    readme.write_text(f"{head}{START}\n{note}\n\n{table(values, docs)}\n\n{END}{tail}")


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for arg in sys.argv[1:]:
        generate(arg)
