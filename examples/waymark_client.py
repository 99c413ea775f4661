"""A small client for the Waymark API, shared by the example scripts beside it.

It signs in as a service account with the client-credentials grant, signs in again shortly
before the access token expires, sends and reads JSON, waits and tries again when the API
answers 429 (or 503) with Retry-After, and turns a problem answer (application/problem+json,
with `code` and `detail`) into a WaymarkError that says what went wrong.

It is not run by itself: import it from a script in the same folder, e.g.

    from waymark_client import Client, add_connection_arguments, client_from_args, run

    parser = argparse.ArgumentParser(description="...")
    add_connection_arguments(parser)
    args = parser.parse_args()
    client = client_from_args(parser, args)
    organisations = client.get_json("/v1/directory/organisations", {"limit": 200})

Standard library only (Python 3.11 or later).
"""

import http.client
import json
import os
import shutil
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

DEFAULT_URL = "http://127.0.0.1:8080"
# Sign in again when the token has less than this left (or half its life, for a short-lived
# one), so no request goes out with a token that expires on the way.
TOKEN_RENEWAL_MARGIN_SECONDS = 60
# How many times one request is tried when the API says to come back later (429 or 503).
MAX_ATTEMPTS = 5


class WaymarkError(Exception):
    """A request that failed: a problem answer from the API, or no usable answer at all."""

    def __init__(self, message, status=None, problem=None):
        super().__init__(message)
        self.status = status
        self.problem = problem or {}

    @property
    def code(self):
        return self.problem.get("code")

    def __str__(self):
        lines = [self.args[0]]
        # Validation and import problems name each field (and, for imports, the file's row).
        for error in self.problem.get("errors") or []:
            where = f"row {error['row']}, " if error.get("row") is not None else ""
            lines.append(f"  {where}{error.get('field')}: {error.get('message')}")
        return "\n".join(lines)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body)


def problem_error(method, url, status, headers, body):
    """The WaymarkError for an error answer, reading the problem document when there is one."""
    problem = {}
    if "json" in (headers.get("Content-Type") or ""):
        try:
            problem = json.loads(body)
        except ValueError:
            pass
    if problem.get("code"):
        message = f"{method} {url}: {status} {problem['code']}: {problem.get('detail', '')}"
    else:
        text = body.decode("utf-8", "replace").strip()[:200]
        message = f"{method} {url}: HTTP {status} {text}"
    return WaymarkError(message, status, problem)


def retry_after_seconds(headers):
    """Seconds to wait as Retry-After says (Waymark sends whole seconds); 1 when it says nothing."""
    try:
        return max(0, int(headers.get("Retry-After", "1")))
    except ValueError:
        return 1


class Client:
    """A service account's session with the API."""

    def __init__(self, base_url, client_id, client_secret, timeout=30):
        self.base_url = base_url.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.timeout = timeout
        self.access_token = None
        self.renew_token_at = 0.0

    def url(self, path, params=None):
        query = {k: v for k, v in (params or {}).items() if v is not None}
        return self.base_url + path + ("?" + urllib.parse.urlencode(query) if query else "")

    def open(self, method, url, data=None, headers=None):
        """Sends one request and answers the open response, waiting and trying again (a few
        times) when told to come back later; any other error answer raises WaymarkError."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
            try:
                return urllib.request.urlopen(request, timeout=self.timeout)
            except urllib.error.HTTPError as answer:
                body = answer.read()
                # 429: a rate limit's quota for this minute is spent (or sign-ins are slowed
                # down); 503: the database is out of reach for a moment, or too many exports
                # run at once. Both say with Retry-After when to come back.
                if answer.code in (429, 503) and attempt < MAX_ATTEMPTS:
                    wait = retry_after_seconds(answer.headers)
                    print(f"{method} {url}: {answer.code}, trying again in {wait} s",
                          file=sys.stderr)
                    time.sleep(wait)
                    continue
                raise problem_error(method, url, answer.code, answer.headers, body) from None
            except OSError as error:
                raise WaymarkError(f"{method} {url}: no answer ({error})") from None
        raise AssertionError("unreachable")

    def sign_in(self):
        form = urllib.parse.urlencode({
            "grant_type": "client_credentials",
            "client_id": self.client_id,
            "client_secret": self.client_secret,
        }).encode()
        url = self.url("/v1/auth/token")
        with self.open("POST", url, form,
                       {"Content-Type": "application/x-www-form-urlencoded"}) as response:
            answer = json.loads(response.read())
        self.access_token = answer["access_token"]
        lifetime = answer["expires_in"]
        margin = min(TOKEN_RENEWAL_MARGIN_SECONDS, lifetime / 2)
        self.renew_token_at = time.monotonic() + lifetime - margin

    def token(self):
        if self.access_token is None or time.monotonic() >= self.renew_token_at:
            self.sign_in()
        return self.access_token

    def send(self, method, path, params=None, body=None, content_type=None, accept=None):
        """Sends an authorised request and answers the open response (close it when done).

        A token refused as it arrives (401: it expired after all, say while the machine was
        asleep) is renewed once and the request sent again."""
        url = self.url(path, params)
        for renewed in (False, True):
            headers = {"Authorization": f"Bearer {self.token()}"}
            if content_type:
                headers["Content-Type"] = content_type
            if accept:
                headers["Accept"] = accept
            try:
                return self.open(method, url, body, headers)
            except WaymarkError as error:
                if error.status != 401 or renewed:
                    raise
                self.access_token = None
        raise AssertionError("unreachable")

    def request(self, method, path, params=None, body=None, content_type=None, accept=None):
        with self.send(method, path, params, body, content_type, accept) as response:
            try:
                return Response(response.status, response.headers, response.read())
            except (OSError, http.client.HTTPException) as error:
                raise WaymarkError(f"{method} {self.url(path, params)}: answer broken off "
                                   f"({error!r})") from None

    def get_json(self, path, params=None):
        return self.request("GET", path, params, accept="application/json").json()

    def post_json(self, path, document, params=None):
        body = json.dumps(document).encode()
        return self.request("POST", path, params, body, "application/json").json()

    def download(self, path, params, destination, accept=None):
        """Streams an answer (a CSV export) into the file `destination`.

        It is written to `destination.part` first and renamed only once the whole answer has
        arrived: an export cut short by a failure on the server ends the transfer early, and
        then raises here instead of leaving a file that looks complete."""
        partial = destination.with_name(destination.name + ".part")
        try:
            with self.send("GET", path, params, accept=accept) as response, \
                    open(partial, "wb") as file:
                shutil.copyfileobj(response, file)
        except (OSError, http.client.HTTPException) as error:  # e.g. IncompleteRead
            partial.unlink(missing_ok=True)
            raise WaymarkError(f"GET {self.url(path, params)}: download broken off "
                               f"({error!r})") from None
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
        partial.replace(destination)


def add_connection_arguments(parser):
    """Adds --base-url, --client-id and --client-secret, each defaulting to its variable."""
    group = parser.add_argument_group("connection")
    group.add_argument("--base-url", default=os.environ.get("WAYMARK_URL", DEFAULT_URL),
                       help=f"the API's address (env WAYMARK_URL; default {DEFAULT_URL})")
    group.add_argument("--client-id", default=os.environ.get("WAYMARK_CLIENT_ID"),
                       help="the service account's client id (env WAYMARK_CLIENT_ID)")
    group.add_argument("--client-secret", default=os.environ.get("WAYMARK_CLIENT_SECRET"),
                       help="its secret (env WAYMARK_CLIENT_SECRET; prefer the variable: "
                            "other users of the machine can read a command line)")


def client_from_args(parser, args):
    if not args.client_id or not args.client_secret:
        parser.error("a service account is needed: set WAYMARK_CLIENT_ID and "
                     "WAYMARK_CLIENT_SECRET (or pass --client-id and --client-secret)")
    return Client(args.base_url, args.client_id, args.client_secret)


def run(main):
    """Runs a script's main(), turning any failure into a message and a non-zero exit."""
    try:
        sys.exit(main())
    except WaymarkError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
