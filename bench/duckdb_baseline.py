#!/usr/bin/env python3
"""DuckDB baseline of the benchmark (scripts/bench.sh): the same work as `reestr run` on a PAY
registry, done by an analytical database on the registry converted to UTF-8.

Reads REGISTRY (the PAY registry in UTF-8, the dialect of agreement 5: `;`, `"` doubled, quoted
line breaks, CRLF) and INVOICES (the billing export), checks every field in column order with the
same patterns and rules as schemas/PAY.json (payment_id, paid_at not after created_at, invoice_no,
payer_type, PINFL date and check digit or TIN, payer_name length, amount pattern and > 0, currency
860, bank_mfo, account pattern and key, purpose length), then joins with the invoices on
invoice_no and gives each row one status: the first failing field's 201/202, else 301 (payment_id
on an earlier line), 4 (no such invoice), 302 (cancelled), 304 (payer differs), 303 (the row's
running sum on its invoice exceeds the amount due), else 1. Writes OUT: `line;payment_id;status;field`
per row in registry order, and prints a JSON summary (counts by status, accepted amount, seconds).

Simplification (documented, not needed by the benchmark's data): 303 compares a running sum of
every earlier well-formed row on the invoice, not only of the rows that were applied.

Usage: duckdb_baseline.py REGISTRY INVOICES OUT [--threads N]
"""
import json
import sys
import time

import duckdb

CREATED_AT = "2026-11-22 01:05:00"  # the batch's created_at, Tashkent local time


def digit(col: str, i: int) -> str:
    return f"(ascii(substr({col}, {i}, 1)) - 48)"


def pinfl_ok(col: str) -> str:
    check = " + ".join(f"{[7, 3, 1][i % 3]} * {digit(col, i + 1)}" for i in range(13))
    century = f"(CASE WHEN substr({col},1,1) IN ('1','2') THEN 1800 WHEN substr({col},1,1) IN ('3','4') THEN 1900 ELSE 2000 END)"
    return (
        f"(regexp_full_match({col}, '[1-6][0-9]{{13}}')"
        f" AND try_strptime(substr({col}, 2, 4) || CAST({century} + CAST(substr({col}, 6, 2) AS INTEGER) AS VARCHAR), '%d%m%Y') IS NOT NULL"
        f" AND ({check}) % 10 = {digit(col, 14)})"
    )


def account_key_sum() -> str:
    """t of agreement 5.4 over the column acc_s (bank_mfo, the account without its key, 9)."""
    return " + ".join(f"{digit('acc_s', i)} * {digit('acc_s', i + 1)}" for i in range(1, 25))


def missing(col: str) -> str:
    return f"({col} IS NULL OR {col} = '')"


FIELDS = ["payment_id", "paid_at", "invoice_no", "payer_type", "payer_id", "payer_name",
          "amount", "currency", "bank_mfo", "account", "purpose"]


def query(registry: str, invoices: str) -> str:
    # (field, missing-is-an-error, well-formed expression) in column order. Each expression is
    # computed once per row; the costly parts (account key sum) come from columns of an inner
    # query so that DuckDB does not repeat them.
    checks = [
        ("payment_id", True, "regexp_full_match(payment_id, '[0-9]{12,20}')"),
        ("paid_at", True, f"coalesce(try_strptime(paid_at, '%Y-%m-%d %H:%M:%S') <= TIMESTAMP '{CREATED_AT}', false)"),
        ("invoice_no", True, "regexp_full_match(invoice_no, '[0-9]{20}')"),
        ("payer_type", True, "payer_type IN ('P', 'J')"),
        ("payer_id", True, f"CASE payer_type WHEN 'P' THEN {pinfl_ok('payer_id')} ELSE regexp_full_match(payer_id, '[23][0-9]{{8}}') END"),
        ("payer_name", True, "length(payer_name) BETWEEN 1 AND 200"),
        ("amount", True, "regexp_full_match(amount, '[0-9]{1,13}\\.[0-9]{2}') AND CAST(amount AS DECIMAL(15,2)) > 0"),
        ("currency", True, "currency = '860'"),
        ("bank_mfo", True, "regexp_full_match(bank_mfo, '[0-9]{5}')"),
        ("account", False, f"regexp_full_match(account, '[0-9]{{20}}') AND (CASE acc_r WHEN 0 THEN 9 WHEN 1 THEN 0 ELSE 11 - acc_r END) = {digit('account', 9)}"),
        ("purpose", False, "length(purpose) <= 500"),
    ]
    assert [c[0] for c in checks] == FIELDS
    # fail = 2 * (index of the first failing field) + (0: missing, 201; 1: wrong, 202).
    arms = []
    for k, (name, required, ok) in enumerate(checks):
        if required:
            arms.append(f"WHEN {missing(name)} THEN {2 * k}")
        arms.append(f"WHEN NOT {missing(name)} AND NOT coalesce({ok}, false) THEN {2 * k + 1}")
    names = ", ".join(f"'{n}'" for n in FIELDS)
    dialect = "delim=';', quote='\"', escape='\"', header=true, all_varchar=true"
    return f"""
CREATE TABLE reg AS SELECT * FROM read_csv('{registry}', {dialect});
CREATE TABLE inv AS SELECT * FROM read_csv('{invoices}', {dialect});
CREATE TABLE res AS
WITH keyed AS (
  SELECT rowid + 1 AS line, *,
         bank_mfo || substr(account, 1, 8) || substr(account, 10, 11) || '9' AS acc_s
  FROM reg
),
summed AS (
  SELECT *, ({account_key_sum()}) % 11 AS acc_r FROM keyed
),
checked AS (
  SELECT line, payment_id, invoice_no, payer_type, payer_id, amount,
         CASE {' '.join(arms)} ELSE NULL END AS fail
  FROM summed
),
ranked AS (
  SELECT c.*,
         row_number() OVER (PARTITION BY c.payment_id ORDER BY c.line) AS seen,
         i.invoice_no AS found, i.status AS inv_status, i.payer_type AS inv_type, i.payer_id AS inv_id,
         CAST(i.amount_due AS DECIMAL(15,2)) AS due,
         sum(CASE WHEN c.fail IS NULL THEN CAST(c.amount AS DECIMAL(15,2)) END)
           OVER (PARTITION BY c.invoice_no ORDER BY c.line) AS running
  FROM checked c LEFT JOIN inv i ON i.invoice_no = c.invoice_no
)
SELECT line, payment_id,
       CASE WHEN fail IS NOT NULL THEN CASE fail % 2 WHEN 0 THEN '201' ELSE '202' END
            WHEN seen > 1 THEN '301'
            WHEN found IS NULL THEN '4'
            WHEN inv_status <> 'OPEN' THEN '302'
            WHEN inv_type <> payer_type OR inv_id <> payer_id THEN '304'
            WHEN running > due THEN '303'
            ELSE '1' END AS status,
       CASE WHEN fail IS NOT NULL THEN [{names}][fail // 2 + 1] END AS field,
       amount
FROM ranked;
"""


def main() -> int:
    args = sys.argv[1:]
    threads = None
    if "--threads" in args:
        k = args.index("--threads")
        threads = int(args[k + 1])
        del args[k : k + 2]
    if len(args) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    registry, invoices, out = args
    started = time.perf_counter()
    con = duckdb.connect()
    if threads:
        con.execute(f"SET threads = {threads}")
    con.execute("SET preserve_insertion_order = true")
    con.execute(query(registry, invoices))
    con.execute(
        f"COPY (SELECT line, payment_id, status, field FROM res ORDER BY line) TO '{out}' (HEADER, DELIMITER ';')"
    )
    counts = dict(con.execute("SELECT status, count(*) FROM res GROUP BY status ORDER BY status").fetchall())
    accepted = con.execute("SELECT count(*), coalesce(sum(CAST(amount AS DECIMAL(18,2))), 0) FROM res WHERE status = '1'").fetchone()
    print(
        json.dumps(
            {
                "rows": sum(counts.values()),
                "statuses": counts,
                "accepted": accepted[0],
                "amount_accepted": f"{accepted[1]:.2f}",
                "seconds": round(time.perf_counter() - started, 3),
                "duckdb": duckdb.__version__,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
