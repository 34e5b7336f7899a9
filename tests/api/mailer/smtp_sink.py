"""An SMTP server for the mailer's tests (aiosmtpd).

    python smtp_sink.py PORT DIRECTORY

Listens on 127.0.0.1:PORT. Each message it accepts becomes DIRECTORY/<n>.json: envelope
sender and recipients, headers, and the decoded text/plain and text/html parts. A recipient
whose local part starts with "refused-" gets 550, as a server that knows no such mailbox.
A file appears whole (written aside, then renamed), so a reader never sees half of one.
"""

import asyncio
import email
import email.policy
import itertools
import json
import os
import sys

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory
        self.numbers = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.split("@")[0].startswith("refused-"):
            return "550 5.1.1 No such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        parts = {}
        for part in message.walk():
            if part.get_content_type() in ("text/plain", "text/html") and not part.is_multipart():
                parts[part.get_content_type()] = part.get_content()
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "from": str(message["From"]),
            "to": str(message["To"]),
            "subject": str(message["Subject"]),
            "content_type": message.get_content_type(),
            "text": parts.get("text/plain"),
            "html": parts.get("text/html"),
        }
        name = f"{next(self.numbers):06d}.json"
        aside = os.path.join(self.directory, "." + name)
        with open(aside, "w") as out:
            json.dump(record, out)
        os.rename(aside, os.path.join(self.directory, name))
        return "250 Message accepted for delivery"


async def main():
    port, directory = int(sys.argv[1]), sys.argv[2]
    controller = Controller(Sink(directory), hostname="127.0.0.1", port=port)
    controller.start()
    print("listening", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
