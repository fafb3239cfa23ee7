#!/usr/bin/python3
"""Every JSON example in docs/PROTOCOL.md is valid JSON, and the README's Python
example compiles.

A JSON example is an inline code span that starts with { or [, or a value in a
plain code block (several per block, each line of an exchange after its `>` or
`<`); text around the values in a block (annotations) is skipped. Inline spans
that are not examples (a regular expression, say) must not start with { or [.

Run:  /usr/bin/python3 tests/check_docs.py [SOURCE_DIR]
"""

import json
import os
import re
import sys

EXCHANGE_RE = re.compile(r"^\s*\w+\s+[<>]\s+(.*)$")


def values_in_block(body):
    """(text, error) for every JSON value in a code block."""
    dec = json.JSONDecoder()
    out = []
    for line in body.splitlines():
        m = EXCHANGE_RE.match(line)
        if m:
            out.append((m.group(1), None))
    if out:
        return [(t, check(t)) for t, _ in out]
    i = 0
    while i < len(body):
        while i < len(body) and body[i].isspace():
            i += 1
        if i >= len(body):
            break
        if body[i] in "{[":
            try:
                _, j = dec.raw_decode(body, i)
                out.append((body[i:j], None))
                i = j
                continue
            except ValueError as e:
                out.append((body[i:i + 120], str(e)))
        nl = body.find("\n", i)
        i = len(body) if nl < 0 else nl + 1
    return out


def check(text):
    try:
        json.loads(text)
        return None
    except ValueError as e:
        return str(e)


def check_protocol(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    errors, count = [], 0
    for m in re.finditer(r"```(\w*)\n(.*?)```", text, re.S):
        if m.group(1) not in ("", "json"):
            continue
        for value, err in values_in_block(m.group(2)):
            count += 1
            if err:
                errors.append(f"{path}: invalid JSON example {value[:100]!r}: {err}")
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for m in re.finditer(r"`([^`]+)`", prose):
        span = m.group(1)
        if span[0] in "{[":
            count += 1
            err = check(span)
            if err:
                errors.append(f"{path}: invalid JSON example {span[:100]!r}: {err}")
    return errors, count


def check_readme(path):
    with open(path, encoding="utf-8") as f:
        text = f.read()
    errors = []
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    if not blocks:
        errors.append(f"{path}: no Python example")
    for b in blocks:
        try:
            compile(b, "README example", "exec")
        except SyntaxError as e:
            errors.append(f"{path}: the Python example does not compile: {e}")
    return errors


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, "..")
    errors, count = check_protocol(os.path.join(root, "docs", "PROTOCOL.md"))
    errors += check_readme(os.path.join(root, "README.md"))
    for e in errors:
        print(f"check_docs: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"check_docs: {count} JSON examples in docs/PROTOCOL.md parse; the README's "
          f"Python example compiles")
    return 0


if __name__ == "__main__":
    sys.exit(main())
