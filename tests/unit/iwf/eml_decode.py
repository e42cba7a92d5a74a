#!/usr/bin/env python3
"""eml_decode.py FILE.eml — read a mail with Python's own MIME parser (the
email package, policy=default: RFC 5322/2047/2045 decoding) and print one
JSON object: the decoded headers the iwf tests check, and the parts with
their decoded payloads (text as text, with \n line ends; the rest base64).  An independent reader of what cpm_iwf_mail_build
wrote; any defect the parser reports is listed in "defects"."""
import base64
import json
import sys
from email import policy
from email.parser import BytesParser

with open(sys.argv[1], "rb") as f:
    msg = BytesParser(policy=policy.default).parse(f)

defects = [type(d).__name__ for d in msg.defects]
out = {h.lower(): str(msg[h]) for h in ("From", "Reply-To", "To", "Subject", "Date",
                                        "Message-ID") if msg[h] is not None}
frm = msg["From"]
if frm is not None:
    out["from_display"] = frm.addresses[0].display_name
    out["from_addr"] = frm.addresses[0].addr_spec
parts = []
for part in msg.walk():
    defects += [type(d).__name__ for d in part.defects]
    if part.is_multipart():
        continue
    entry = {
        "type": part.get_content_type(),
        "charset": part.get_content_charset(),
        "filename": part.get_filename(),
    }
    if part.get_content_maintype() == "text":
        entry["text"] = part.get_content()  # charset decoded, lines end in \n
    else:
        entry["b64"] = base64.b64encode(part.get_payload(decode=True) or b"").decode()
    parts.append(entry)
out["parts"] = parts
out["defects"] = defects
print(json.dumps(out))
