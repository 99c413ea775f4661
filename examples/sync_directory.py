#!/usr/bin/env python3
"""Loads an Open Referral UK 3.0 file into the federation's Waymark directory.

The file holds one service, an array of services, or a page of them ({"contents": [...]}), each
with its organization. It is sent as it is to POST /v1/directory/import, which creates or
updates the organisations and services by their ids in one transaction: sending the same file
again changes nothing, and a file with any bad row imports nothing. Services are placed in
Waymark's need categories by their attributes' taxonomy terms (GET /oruk/{federation}/
taxonomy_terms lists them); examples/directory-sample.json shows a file the API accepts.

Prints the API's summary (organisations and services created, updated and unchanged) as JSON
on standard output. When the file is rejected (422 import_rejected) it prints each problem's
row, field and message and exits 1.

Needs a service account with the scope directory:write.

    export WAYMARK_URL=https://waymark.example.nhs.uk
    export WAYMARK_CLIENT_ID=... WAYMARK_CLIENT_SECRET=...
    python3 sync_directory.py services.json --dry-run   # what would change; changes nothing
    python3 sync_directory.py services.json
"""

import argparse
import json
import pathlib
import sys

from waymark_client import WaymarkError, add_connection_arguments, client_from_args, run


def count_services(document):
    """How many services the file holds, checking it has one of the three shapes."""
    if isinstance(document, list):
        return len(document)
    if isinstance(document, dict) and isinstance(document.get("contents"), list):
        return len(document["contents"])
    if isinstance(document, dict):
        return 1
    raise ValueError("expected a service, an array of services or a page of them")


def describe(counts):
    return ", ".join(f"{counts[k]} {k}" for k in ("created", "updated", "unchanged"))


def main():
    parser = argparse.ArgumentParser(
        description="Import an Open Referral UK 3.0 JSON file into the Waymark directory.")
    parser.add_argument("file", type=pathlib.Path,
                        help="the Open Referral UK JSON file (a service, an array or a page)")
    parser.add_argument("--dry-run", action="store_true",
                        help="only report what would change")
    add_connection_arguments(parser)
    args = parser.parse_args()
    client = client_from_args(parser, args)

    try:
        body = args.file.read_bytes()
        services = count_services(json.loads(body))
    except (OSError, ValueError) as error:
        sys.exit(f"error: cannot use {args.file}: {error}")
    print(f"sending {services} service(s) from {args.file}"
          f"{' (dry run)' if args.dry_run else ''}", file=sys.stderr)

    try:
        summary = client.request("POST", "/v1/directory/import",
                                 {"dry_run": "true"} if args.dry_run else None,
                                 body, "application/json").json()
    except WaymarkError as error:
        if error.code == "import_rejected":
            # Nothing was imported: the problem lists every bad row, field and message.
            print(f"error: the file was rejected (import_rejected): "
                  f"{error.problem.get('detail')}", file=sys.stderr)
            for problem in error.problem.get("errors", []):
                print(f"  row {problem.get('row')}, {problem.get('field')}: "
                      f"{problem.get('message')}", file=sys.stderr)
            return 1
        raise

    print(json.dumps(summary, indent=2))
    what = "would be" if summary.get("dry_run") else "were"
    print(f"organisations {what}: {describe(summary['organisations'])}; "
          f"services {what}: {describe(summary['services'])}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
