#!/usr/bin/env python3
"""Downloads every provider's payment-ledger statement for a month, one CSV file each.

Lists the directory's organisations (GET /v1/directory/organisations, page by page) and, for
each, saves GET /v1/ledger/statements/{organisation_id}?from=&to=&format=csv for the month's
first to last day (UTC) in the --out folder, named after the organisation. A statement holds
an opening_balance row, one row per approved or reversed charge, payment and amount netted off
for clawbacks, and a closing_balance row (what the federation owed the provider at the end of
the month); then what the provider owes back for clawbacks, between opening_owed_back and
closing_owed_back rows. Amounts are whole pence.

Prints one line per provider with its opening and closing balances. A download cut short
(the server ends the transfer early on a failure part-way) leaves no file and fails the run.

Needs a service account with the scopes ledger:read and directory:read.

    export WAYMARK_URL=https://waymark.example.nhs.uk
    export WAYMARK_CLIENT_ID=... WAYMARK_CLIENT_SECRET=...
    python3 export_statements.py                    # last month, into statements-YYYY-MM/
    python3 export_statements.py --month 2025-03 --out /srv/finance/statements
"""

import argparse
import calendar
import csv
import datetime
import pathlib
import re
import sys

from waymark_client import WaymarkError, add_connection_arguments, client_from_args, run


def month_argument(text):
    try:
        return datetime.datetime.strptime(text, "%Y-%m").date()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a month written YYYY-MM") from None


def last_month():
    first_of_this_month = datetime.datetime.now(datetime.timezone.utc).date().replace(day=1)
    return (first_of_this_month - datetime.timedelta(days=1)).replace(day=1)


def organisations(client):
    """Every organisation in the directory, following the pages' next_cursor to the end."""
    cursor = None
    while True:
        page = client.get_json("/v1/directory/organisations", {"limit": 200, "cursor": cursor})
        yield from page["items"]
        cursor = page.get("next_cursor")
        if not cursor:
            return


def file_name(organisation):
    """A readable file name that stays unique: the name made safe, then the id."""
    slug = re.sub(r"[^a-z0-9]+", "-", organisation["name"].lower()).strip("-")[:60]
    return f"{slug}-{organisation['id']}.csv"


def pounds(pence):
    return f"{'-' if pence < 0 else ''}£{abs(pence) // 100:,}.{abs(pence) % 100:02d}"


def read_statement(path):
    """The statement's balances and how many lines it has, from the CSV's rows."""
    balances = {}
    lines = 0
    with open(path, newline="", encoding="utf-8") as file:
        for row in csv.DictReader(file):
            if row["kind"] in ("opening_balance", "closing_balance",
                               "opening_owed_back", "closing_owed_back"):
                balances[row["kind"]] = int(row["amount_pence"])
            elif "closing_balance" not in balances:
                lines += 1
    missing = {"opening_balance", "closing_balance", "closing_owed_back"} - set(balances)
    if missing:
        raise WaymarkError(f"{path}: the statement has no {', '.join(sorted(missing))} row")
    return balances, lines


def main():
    parser = argparse.ArgumentParser(
        description="Save each provider's ledger statement for a month as CSV.")
    parser.add_argument("--month", type=month_argument, default=None,
                        help="the month, YYYY-MM (default: last month)")
    parser.add_argument("--out", type=pathlib.Path,
                        help="folder to write to (default statements-YYYY-MM)")
    add_connection_arguments(parser)
    args = parser.parse_args()
    client = client_from_args(parser, args)

    first_day = args.month or last_month()
    last_day = first_day.replace(day=calendar.monthrange(first_day.year, first_day.month)[1])
    out = args.out or pathlib.Path(f"statements-{first_day:%Y-%m}")
    out.mkdir(parents=True, exist_ok=True)

    written = 0
    for organisation in organisations(client):
        path = out / file_name(organisation)
        client.download(f"/v1/ledger/statements/{organisation['id']}",
                        {"from": first_day.isoformat(), "to": last_day.isoformat(),
                         "format": "csv"}, path)
        balances, lines = read_statement(path)
        print(f"{organisation['name']}: opening {pounds(balances['opening_balance'])}, "
              f"{lines} line(s), closing {pounds(balances['closing_balance'])}, "
              f"owed back {pounds(balances['closing_owed_back'])} -> {path}", flush=True)
        written += 1
    print(f"wrote {written} statement(s) for {first_day:%B %Y} to {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    run(main)
