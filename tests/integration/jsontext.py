# SPDX-License-Identifier: MIT
"""What a JSON text looks like, as opposed to what it means (json.loads says that)."""


def blanks_outside_strings(text):
    """The whitespace characters between the tokens of a JSON text, in order: a compact
    document has none. Whitespace inside strings is content and is not counted."""
    found, in_string, escaped = [], False, False
    for c in text:
        if in_string:
            if escaped:
                escaped = False
            elif c == '\\':
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c in ' \t\r\n':
            found.append(c)
    return found
