"""Validates layerpub's JSON documents against the committed JSON Schemas (schema/*.schema.json),
with Python's `jsonschema` (Draft 2020-12), an implementation independent of layerpub's own code.

Started once per test binary by tests/common/schema.rs and kept running: each request is one
line of JSON on stdin, `{"schema": NAME, "document": DOC}`, NAME being `result`, `package`,
`fingerprint`, `prune`, or `auto` (the schema is chosen from the first item's keys, for a test
that ran the binary without saying which command); each answer is one line of JSON, the list
of errors (empty when the document is valid). Every schema is itself checked against the
meta-schema at start, so a broken schema fails the tests rather than accepting everything.
"""

import json
import pathlib
import sys

from jsonschema import Draft202012Validator

SCHEMAS = pathlib.Path(__file__).resolve().parents[2] / "schema"
VALIDATORS = {}
for path in sorted(SCHEMAS.glob("*.schema.json")):
    schema = json.loads(path.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    VALIDATORS[path.name.removesuffix(".schema.json")] = Draft202012Validator(schema)

# A key only that command's items have.
DISTINCT = [("status", "result"), ("file_count", "package"), ("document", "fingerprint"), ("kept", "prune")]


def schema_for(document):
    try:
        item = document["layers"][0]
        return next(name for key, name in DISTINCT if key in item)
    except (KeyError, IndexError, TypeError, StopIteration):
        return "result"


def errors(name, document):
    if name == "auto":
        name = schema_for(document)
    validator = VALIDATORS[name]
    return [
        f"{name}.schema.json: at /{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
    ]


for line in sys.stdin:
    request = json.loads(line)
    print(json.dumps(errors(request["schema"], request["document"])), flush=True)
