"""Bounds on echoed text: what a job record or a notice repeats of an error (a job file with 25,000
problems, a 300 KB value) must fit DynamoDB's 400 KB item and SNS's 256 KB message, and must say how
much it left out instead of cutting silently.

The job table, the notifier and the message texts each bound what they are given (defence in depth),
so no single forgotten caller can make a record or a notice too large to be written.
"""

from __future__ import annotations

import re

#: The longest line kept whole; a longer one (a 300 KB value echoed in a problem) is cut.
MAX_LINE_CHARS = 600
#: A problem line of a job file's error list (gs_stages.jobspec.JobSpecError).
_PROBLEM = re.compile(r"^\s+- ")


def utf8_size(text: str) -> int:
    return len(text.encode("utf-8"))


def cut_chars(text: str, max_bytes: int) -> str:
    """`text` cut to at most `max_bytes` of UTF-8, saying how many characters were left out."""
    if utf8_size(text) <= max_bytes:
        return text
    room = max(0, max_bytes - 48)
    kept = text.encode("utf-8")[:room].decode("utf-8", errors="ignore")
    return f"{kept}... ({len(text) - len(kept):,} characters left out)"


def bound_text(text: str, *, max_bytes: int, max_lines: int | None = None) -> str:
    """`text` with at most `max_lines` lines and `max_bytes` of UTF-8, each line at most MAX_LINE_CHARS.
    What is dropped is counted on a last line: '... and 24,990 more problems' (lines of a job file's
    problem list) or '... and 12 more lines'."""
    lines = text.splitlines()
    fits = utf8_size(text) <= max_bytes and (max_lines is None or len(lines) <= max_lines)
    if fits and all(len(line) <= MAX_LINE_CHARS for line in lines):
        return text
    limit = len(lines) if max_lines is None else max_lines
    budget = max_bytes - 64  # room for the closing line
    kept: list[str] = []
    used = 0
    for line in lines:
        short = cut_chars(line, MAX_LINE_CHARS) if len(line) > MAX_LINE_CHARS else line
        if len(kept) >= limit or used + utf8_size(short) + 1 > budget:
            break
        kept.append(short)
        used += utf8_size(short) + 1
    dropped = lines[len(kept) :]
    if dropped:
        problems = sum(1 for line in dropped if _PROBLEM.match(line))
        unit = "problems" if problems == len(dropped) else "lines"
        kept.append(f"... and {len(dropped):,} more {unit}")
    return cut_chars("\n".join(kept), max_bytes)
