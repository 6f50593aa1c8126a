"""The SES sink: one email per event, a plain part and an HTML part, through ``send_email``.

The subject says what happened without opening the mail: project, run, outcome and where
("cdtui: shop run 42 failed at deploy/web"). Both parts carry every field and the failing
stage's last lines; every value is HTML-escaped (log lines are untrusted text). An email is
clamped to 256 KB, far under SES's 10 MB, since a notification is not the log.
"""

from __future__ import annotations

import html
from typing import Any

from cdtui.notify.aws import SIZE_LIMIT, AwsSink, clamp, headline, plain_text, summary_lines
from cdtui.notify.base import Payload

_STYLE = "font-family:monospace;font-size:13px"
_BAD = {"FAILED", "TIMED_OUT", "CANCELLED", "BLOCKED", "INTERRUPTED", "ERROR"}
_COLOURS = {"SUCCEEDED": "#1b5e20", "WAITING": "#8a6d00"}


class SesSink(AwsSink):
    kind = "ses"
    service = "ses"
    method = "send_email"
    target = "from"

    def hint(self, method: str, code: str, message: str) -> str | None:
        if "not verified" in message:
            return (
                "verify the from address (and, in the SES sandbox, every to address): "
                "aws ses verify-email-identity --email-address ADDRESS"
            )
        return super().hint(method, code, message)

    def request(self, payload: Payload) -> dict[str, Any]:
        """The send_email call's arguments, the payload clamped to fit."""
        payload = clamp(payload, lambda p: len(plain_text(p)) + len(html_text(p)) <= SIZE_LIMIT)
        return {
            "Source": self.config.sender,
            "Destination": {"ToAddresses": list(self.config.to)},
            "Message": {
                "Subject": {"Data": subject(payload), "Charset": "UTF-8"},
                "Body": {
                    "Text": {"Data": plain_text(payload), "Charset": "UTF-8"},
                    "Html": {"Data": html_text(payload), "Charset": "UTF-8"},
                },
            },
        }


def subject(payload: Payload) -> str:
    """One line (a line break in a header would end it), at most ~200 characters."""
    text = " ".join(f"cdtui: {headline(payload)}".split())
    return text if len(text) <= 200 else text[:197] + "..."


def html_text(payload: Payload) -> str:
    """A small table of fields and the last lines in <pre>; inline styles, as mail clients want."""
    rows, tail = summary_lines(payload)
    status = str(payload.get("status", "")).upper()
    colour = "#b00020" if status in _BAD else _COLOURS.get(status, "#333333")
    out = [
        f'<html><body style="{_STYLE}">',
        f'<h3 style="color:{colour}">{html.escape(headline(payload))}</h3>',
        '<table cellpadding="2">',
    ]
    out += [
        f"<tr><th align=left>{html.escape(key)}</th><td>{html.escape(value)}</td></tr>"
        for key, value in rows
    ]
    out.append("</table>")
    if tail:
        out.append("<p>last lines:</p>")
        out.append(f"<pre>{html.escape(chr(10).join(tail))}</pre>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"
