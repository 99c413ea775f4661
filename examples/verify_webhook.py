#!/usr/bin/env python3
"""A webhook receiver for Waymark: checks each delivery's signature before trusting it.

Waymark signs every delivery as the Standard Webhooks specification says
(https://www.standardwebhooks.com/): the headers `webhook-id` (the event's id, the same on
every attempt), `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature`, a
space-separated list of `v1,<base64 signature>` (two while a secret is being rotated). A
signature is the HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with the base64-decoding of the
endpoint's secret after its `whsec_` prefix.

This server answers 204 to a delivery that verifies and 401 to one that does not, and refuses
a timestamp more than 5 minutes from now, so a delivery captured on the way cannot be replayed
later. Deliveries are at least once: a delivery whose `webhook-id` it has seen already is
answered 204 and not handled again. Each event it accepts is printed as one line of JSON
({"type", "timestamp", "data"}). Any answer but a 2xx makes Waymark try again later.

The secret is the `secret` that POST /v1/webhooks answered (shown once). Register the endpoint
with a federation admin's token or a service account with the scope webhooks:write; Waymark
delivers only to public addresses unless the deployment allows the receiver's network.

    export WAYMARK_WEBHOOK_SECRET=whsec_...
    python3 verify_webhook.py --port 8000             # then register http://this-host:8000/
    python3 verify_webhook.py --self-test             # checks verify() against the spec's example

Other code can use verify(secret, headers, body) on its own.
"""

import argparse
import base64
import binascii
import collections
import hashlib
import hmac
import http.server
import json
import os
import sys
import time

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 5 * 60
MAX_BODY_BYTES = 1024 * 1024
# webhook-ids remembered to ignore repeats; a repeat comes within Waymark's three days of
# retries, so a real receiver keeps them in its database for that long.
REMEMBERED_IDS = 100_000


def signature(secret, message_id, timestamp, body):
    """The base64 `v1` signature of a delivery, as Waymark computes it."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX), validate=True)
    signed = f"{message_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def verify(secret, headers, body, now=None):
    """Whether a delivery is signed with `secret` and was sent within 5 minutes of `now`.

    `headers` is any mapping of the request's headers (names in any case), `body` the raw
    bytes as received: check them before parsing, as any change to the body breaks the
    signature. `now` (Unix seconds) defaults to the current time."""
    headers = {name.lower(): value for name, value in headers.items()}
    message_id = headers.get("webhook-id")
    timestamp = headers.get("webhook-timestamp")
    signatures = headers.get("webhook-signature")
    if not message_id or not timestamp or not signatures:
        return False
    try:
        sent_at = int(timestamp)
        expected = signature(secret, message_id, timestamp, body)
    except (ValueError, binascii.Error):
        return False
    if abs((time.time() if now is None else now) - sent_at) > TOLERANCE_SECONDS:
        return False
    for candidate in signatures.split(" "):
        version, _, value = candidate.partition(",")
        # compare_digest takes as long whatever the difference, giving nothing away.
        if version == "v1" and hmac.compare_digest(value.encode(), expected.encode()):
            return True
    return False


def self_test():
    """Checks verify() against the example in the Standard Webhooks specification."""
    secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"
    body = b'{"email":"test@example.com","username":"test_user"}'
    headers = {
        "webhook-id": "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
        "webhook-timestamp": "1649367553",
        "webhook-signature": "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
    }
    sent_at = 1649367553
    rotating = dict(headers, **{"webhook-signature": "v1,bm90IHRoaXMgb25l "
                                                     + headers["webhook-signature"]})
    checks = [
        # The example's timestamp is years old: verify as if it were that moment.
        ("the specification's example verifies", verify(secret, headers, body, now=sent_at)),
        ("a signature among others (a rotation) verifies",
         verify(secret, rotating, body, now=sent_at)),
        ("a changed body does not", not verify(secret, headers, body + b" ", now=sent_at)),
        ("another secret does not",
         not verify("whsec_" + base64.b64encode(b"another secret!!").decode(), headers, body,
                    now=sent_at)),
        ("a delivery older than 5 minutes does not",
         not verify(secret, headers, body, now=sent_at + TOLERANCE_SECONDS + 1)),
        ("nor one 5 minutes in the future",
         not verify(secret, headers, body, now=sent_at - TOLERANCE_SECONDS - 1)),
        ("a delivery without a signature does not",
         not verify(secret, {k: v for k, v in headers.items() if k != "webhook-signature"},
                    body, now=sent_at)),
    ]
    for what, passed in checks:
        print(f"{'ok  ' if passed else 'FAIL'} {what}")
    return 0 if all(passed for _, passed in checks) else 1


class Receiver(http.server.HTTPServer):
    def __init__(self, address, secret):
        super().__init__(address, DeliveryHandler)
        self.secret = secret
        self.seen_ids = collections.OrderedDict()
        self.handled = 0


class DeliveryHandler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self.answer(400)
        if not 0 <= length <= MAX_BODY_BYTES:
            return self.answer(413)
        body = self.rfile.read(length)
        if not verify(self.server.secret, self.headers, body):
            print(f"refused a delivery that did not verify (webhook-id "
                  f"{self.headers.get('webhook-id')!r})", file=sys.stderr)
            return self.answer(401)
        message_id = self.headers["webhook-id"]
        if message_id in self.server.seen_ids:
            return self.answer(204)  # delivered before: the earlier answer was lost on the way
        try:
            event = json.loads(body)
        except ValueError:
            return self.answer(400)
        try:
            handle_event(event)
        except Exception as error:
            print(f"handling {message_id} failed: {error!r}", file=sys.stderr)
            return self.answer(500)  # not remembered: Waymark delivers it again later
        self.server.seen_ids[message_id] = True
        if len(self.server.seen_ids) > REMEMBERED_IDS:
            self.server.seen_ids.popitem(last=False)
        self.server.handled += 1
        self.answer(204)

    def answer(self, status):
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format, *args):
        pass  # refusals are reported above; every delivery would be noise


def handle_event(event):
    """What to do with a verified event: here, print it. Replace this with your own handling;
    if it raises, the answer is 500 and Waymark delivers the event again later."""
    print(json.dumps(event, separators=(",", ":")), flush=True)


def main():
    parser = argparse.ArgumentParser(
        description="Receive Waymark webhooks, verifying each delivery's signature.")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on (default 8000)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1; 0.0.0.0 for every one)")
    parser.add_argument("--secret", default=os.environ.get("WAYMARK_WEBHOOK_SECRET"),
                        help="the endpoint's whsec_ secret (env WAYMARK_WEBHOOK_SECRET)")
    parser.add_argument("--count", type=int,
                        help="exit after this many verified deliveries (default: run until "
                             "stopped)")
    parser.add_argument("--self-test", action="store_true",
                        help="check the verification against the specification's example "
                             "and exit")
    args = parser.parse_args()
    if args.self_test:
        return self_test()
    if not args.secret:
        parser.error("the endpoint's secret is needed: set WAYMARK_WEBHOOK_SECRET or pass "
                     "--secret")
    try:
        signature(args.secret, "", "", b"")
    except (ValueError, binascii.Error):
        parser.error("the secret must be whsec_ followed by base64, as POST /v1/webhooks "
                     "answered it")

    try:
        receiver = Receiver((args.host, args.port), args.secret)
    except OSError as error:
        sys.exit(f"error: cannot listen on {args.host}:{args.port}: {error}")
    print(f"listening on http://{args.host}:{receiver.server_port}/", file=sys.stderr, flush=True)
    with receiver:
        try:
            while args.count is None or receiver.handled < args.count:
                receiver.handle_request()
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
