#!/usr/bin/env python3
"""Follows the federation's change feed, printing each event as one line of JSON.

Reads GET /v1/events page by page, in order. After each page has been handled it saves the
page's `next_cursor` in a file (--cursor-file), so when the script is started again it goes on
from where it stopped: no event is handled twice and none is skipped. Stopping it with Ctrl-C
or SIGTERM waits for the page in hand to be handled and its cursor saved. (Only a crash
between handling a page and saving its cursor makes that page come again: use each event's
`id` to ignore a repeat if that matters to you.)

With --once it reads up to the feed's current end and exits; otherwise it then asks again every
--interval seconds. Events are kept for 30 days or more: a cursor older than that answers
410 events_cursor_expired. The script then says so and exits 1, or, with --restart-on-expiry,
starts again from the oldest event kept (take a fresh copy of what you mirror first: the
events in between are gone).

Each event names a resource (`resource_type`, `resource_id`) and a few of its fields; fetch
the resource through its own route to read more. Needs a service account with the scope
events:read, which follows the directory's organisations and services, payment runs and
remittances.

    export WAYMARK_URL=https://waymark.example.nhs.uk
    export WAYMARK_CLIENT_ID=... WAYMARK_CLIENT_SECRET=...
    python3 follow_events.py --once                          # what is new since last time
    python3 follow_events.py --types service.created,service.updated --interval 30
"""

import argparse
import json
import os
import pathlib
import signal
import sys
import time

from waymark_client import WaymarkError, add_connection_arguments, client_from_args, run

# Set by SIGINT or SIGTERM: the loop stops between pages, never in the middle of one.
stop_requested = False


def request_stop(signum, frame):
    global stop_requested
    stop_requested = True


def read_cursor(path):
    """The saved cursor, or None to start at the oldest event kept."""
    try:
        return path.read_text().strip() or None
    except FileNotFoundError:
        return None


def save_cursor(path, cursor):
    """Replaces the cursor file in one step, so a crash leaves the old cursor or the new one."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w") as file:
        file.write(cursor + "\n")
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def handle_event(event):
    """What to do with an event: here, print it. Replace this with your own handling."""
    print(json.dumps(event, separators=(",", ":")), flush=True)


def wait(seconds):
    """Sleeps, waking early when asked to stop."""
    deadline = time.monotonic() + seconds
    while not stop_requested and time.monotonic() < deadline:
        time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))


def main():
    parser = argparse.ArgumentParser(
        description="Follow the Waymark change feed, printing each event as a JSON line.")
    parser.add_argument("--cursor-file", type=pathlib.Path, default=pathlib.Path("events.cursor"),
                        help="where the cursor is kept between runs (default events.cursor)")
    parser.add_argument("--types",
                        help="only these event types, separated by commas "
                             "(e.g. service.created,service.updated)")
    parser.add_argument("--limit", type=int, default=100,
                        help="events per page, 1 to 1000 (default 100)")
    parser.add_argument("--once", action="store_true",
                        help="read up to the feed's current end, then exit")
    parser.add_argument("--interval", type=float, default=10.0,
                        help="seconds between polls once at the end (default 10)")
    parser.add_argument("--restart-on-expiry", action="store_true",
                        help="when the saved cursor has expired, start again from the "
                             "oldest event kept instead of exiting")
    add_connection_arguments(parser)
    args = parser.parse_args()
    client = client_from_args(parser, args)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)

    cursor = read_cursor(args.cursor_file)
    print(f"following the change feed from "
          f"{'cursor ' + cursor if cursor else 'the oldest event kept'}", file=sys.stderr)
    while not stop_requested:
        try:
            page = client.get_json("/v1/events",
                                   {"after": cursor, "limit": args.limit, "types": args.types})
        except WaymarkError as error:
            if error.code != "events_cursor_expired":
                raise
            print(f"the saved cursor {cursor} has expired: {error.problem.get('detail')}",
                  file=sys.stderr)
            if not args.restart_on_expiry:
                print("take a fresh copy, then delete the cursor file (or use "
                      "--restart-on-expiry) to start again from the oldest event kept",
                      file=sys.stderr)
                return 1
            print("starting again from the oldest event kept", file=sys.stderr)
            cursor = None
            continue

        for event in page["items"]:
            handle_event(event)
        if page["next_cursor"] != cursor:
            cursor = page["next_cursor"]
            save_cursor(args.cursor_file, cursor)

        if page["has_more"]:
            continue
        if args.once:
            break
        wait(args.interval)
    return 0


if __name__ == "__main__":
    run(main)
