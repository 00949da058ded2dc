"""Text from elsewhere (a server's banner or reply, names in a certificate, DNS data), made safe to
reach a terminal or a log."""

from __future__ import annotations


def escaped(text: str) -> str:
    """`text` with each character that is not printable (ESC, CR, LF, BEL, DEL, C1 controls, bidi
    overrides, zero-width characters) written as a Python escape such as \\x1b or \\u202e, so that
    what a server sends cannot move the cursor, rewrite a line or pose as tlsagen's own output."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
