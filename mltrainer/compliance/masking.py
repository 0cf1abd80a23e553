"""Masking of secret literals in code excerpts: a hardcoded secret is reported, never repeated.

Reports (CLI, API, dashboard) show the flagged lines with every string literal on them cut to its
first 4 characters and its length: ``"sk_live_4eC39H…"`` -> ``"sk_l…(24 chars)"``.
"""

from __future__ import annotations

import re

__all__ = ["SECRET_RULES", "mask_literal", "mask_lines"]

SECRET_RULES = frozenset({"hardcoded-secret"})
_STRING_LITERAL = re.compile(r"""(?P<prefix>[rRbBuUfF]{0,2})(?P<quote>\"\"\"|'''|"|')(?P<body>.*?)(?P=quote)""",
                             re.DOTALL)


_MASKED = re.compile(r"[^\n]{0,4}…\(\d+ chars\)")


def mask_literal(token: str) -> str:
    """A string literal with only its first 4 characters and its length kept:
    ``"sk_live_4eC39H…"`` -> ``"sk_l…(24 chars)"``; literals of 4 characters or fewer stay."""
    match = _STRING_LITERAL.fullmatch(token)
    if match is None:
        return token
    body = match["body"]
    if len(body) <= 4 or _MASKED.fullmatch(body):  # short, or masked already (masking is idempotent)
        return token
    head = body[:4].split("\n")[0]  # a multi-line literal keeps its line count elsewhere
    return f"{match['prefix']}{match['quote']}{head}…({len(body)} chars){match['quote']}"


def mask_lines(lines: list[str], flagged: set[int]) -> list[str]:
    """``lines`` with every string literal that touches a ``flagged`` line (1-based) masked.

    Tokenizing the whole file finds literals exactly (also ones spanning lines, whose tail lines are
    blanked so that line numbers stay put); a file that does not tokenize is masked line by line.
    """
    import io
    import tokenize

    out = list(lines)
    try:
        tokens = [t for t in tokenize.generate_tokens(io.StringIO("\n".join(lines) + "\n").readline)
                  if t.type == tokenize.STRING and flagged & set(range(t.start[0], t.end[0] + 1))]
    except (tokenize.TokenError, SyntaxError):
        for n in sorted(n for n in flagged if 1 <= n <= len(out)):
            out[n - 1] = _STRING_LITERAL.sub(lambda m: mask_literal(m[0]), out[n - 1])
        return out
    for token in reversed(tokens):  # right to left, so earlier columns stay valid
        (srow, scol), (erow, ecol) = token.start, token.end
        tail = out[erow - 1][ecol:]
        out[srow - 1] = out[srow - 1][:scol] + mask_literal(token.string) + tail
        for n in range(srow + 1, erow + 1):
            out[n - 1] = ""
    return out


