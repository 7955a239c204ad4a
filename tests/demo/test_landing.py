"""Landing the demo data: stable file names, whole files only, the same bytes again, the shop database."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.sql import types as T
from pyspark.testing import assertDataFrameEqual

from lakehouse.demo.generator import (
    ORDER_LINES_SCHEMA,
    ORDERS_SCHEMA,
    SEARCH_QUERIES,
    TICKETS_SCHEMA,
    DemoScale,
    build_customer_snapshot,
    build_product_snapshot,
    orders_csv_header,
)
from lakehouse.demo.landing import land, land_database_day, land_day
from lakehouse.io import jdbc
from lakehouse.io.jdbc import JdbcConnection
from lakehouse.jobs.demo_data import DemoDataJob, DemoDataParams
from lakehouse.runs.runner import make_context

SCALE = DemoScale(seed=3, scale=0.05, days=2, coupon_day=1)
DATES = [SCALE.date_of(day).isoformat() for day in range(SCALE.days)]
CORRUPT = "_corrupt_record"


def files_under(root: Path) -> dict[str, bytes]:
    """Every visible file below ``root`` (Hadoop's hidden .crc files left out) and its bytes."""
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.name.startswith(".")
    }


@pytest.fixture(scope="module")
def landed(spark, tmp_path_factory):
    """Both days of SCALE landed once, files only: (root, rows written per date)."""
    root = tmp_path_factory.mktemp("demo")
    written = land(spark, str(root / "landing"), str(root / "truth"), None, SCALE)
    return root, written


def test_each_day_lands_in_stable_file_names(landed):
    root, written = landed
    expected = set()
    for date in DATES:
        expected |= {
            f"landing/orders/{date}/orders-{date}.csv",
            f"landing/order_lines/{date}/order_lines-{date}.parquet",
            f"landing/tickets/{date}/tickets-{date}.jsonl",
            f"truth/ticket_topics/day={date}/ticket_topics-{date}.parquet",
            f"truth/customer_churn/day={date}/customer_churn-{date}.parquet",
            f"truth/search_relevance/day={date}/search_relevance-{date}.parquet",
            f"truth/ticket_lookups/queries/day={date}/ticket_lookups_queries-{date}.parquet",
            f"truth/ticket_lookups/relevance/day={date}/ticket_lookups_relevance-{date}.parquet",
        }
    expected.add("truth/search_queries/search_queries.parquet")
    assert set(files_under(root)) == expected
    assert not (root / "landing" / "_staging").exists() and not (root / "truth" / "_staging").exists()
    assert list(written) == DATES
    assert written[DATES[1]]["orders"] == SCALE.counts(1).order_records


def test_landing_a_day_again_writes_the_same_bytes(spark, landed):
    root, _ = landed
    before = files_under(root)
    land_day(spark, str(root / "landing"), str(root / "truth"), None, SCALE, 1)
    assert files_under(root) == before


def test_orders_csv_reads_back_with_its_declared_columns_and_flags_malformed_lines(spark, landed):
    root, _ = landed
    for day, date in enumerate(DATES):
        counts = SCALE.counts(day)
        path = root / "landing" / "orders" / date / f"orders-{date}.csv"
        lines = path.read_text().splitlines()
        assert lines[0] == orders_csv_header(SCALE, day)
        names = lines[0].split(",")
        fields = [field for field in ORDERS_SCHEMA.fields if field.name in names]
        parsed = (
            spark.read.schema(T.StructType([*fields, T.StructField(CORRUPT, T.StringType())]))
            .options(header=True, mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT)
            .csv(str(path))
            .cache()
        )
        assert parsed.count() == counts.order_records == len(lines) - 1
        assert parsed.where(F.col(CORRUPT).isNotNull()).count() == counts.malformed_orders
        assert (
            parsed.where(f"{CORRUPT} IS NULL AND customer_id IS NULL").count() == counts.null_customer_orders
        )
        parsed.unpersist()
        # lines in order of updated_at (the header first)
        records = [row for row in csv.reader(lines[1:]) if len(row) == len(names) and row[6].endswith("Z")]
        assert [row[6] for row in records] == sorted(row[6] for row in records)


def test_order_lines_and_tickets_read_back_and_the_truth_matches_the_tickets(spark, landed):
    root, written = landed
    lines = spark.read.parquet(str(root / "landing" / "order_lines" / DATES[0]))
    assert [(field.name, field.dataType) for field in lines.schema.fields] == [
        (field.name, field.dataType) for field in ORDER_LINES_SCHEMA.fields
    ]
    assert lines.count() == written[DATES[0]]["order_lines"]
    schema = T.StructType([*TICKETS_SCHEMA.fields, T.StructField(CORRUPT, T.StringType())])
    tickets = (
        spark.read.schema(schema)
        .options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT)
        .json(str(root / "landing" / "tickets" / "*" / "*.jsonl"))
        .cache()
    )
    total = sum(SCALE.counts(day).tickets for day in range(SCALE.days))
    assert tickets.count() == total
    assert tickets.where(F.col(CORRUPT).isNotNull()).count() == sum(
        SCALE.counts(day).malformed_tickets for day in range(SCALE.days)
    )
    truth = spark.read.parquet(str(root / "truth" / "ticket_topics"))
    assert truth.columns == ["ticket_id", "topic", "day"]
    assert sorted(row.ticket_id for row in truth.collect()) == list(range(1, total + 1))
    well_formed = {row.ticket_id for row in tickets.where(F.col(CORRUPT).isNull()).collect()}
    assert well_formed <= {row.ticket_id for row in truth.collect()}
    tickets.unpersist()
    # the labelled set: each query's relevant tickets are exactly the tickets of its topic
    queries = spark.read.parquet(str(root / "truth" / "search_queries")).collect()
    assert sorted((q.query_id, q.query) for q in queries) == [
        (number, query) for number, (_, query) in enumerate(SEARCH_QUERIES, start=1)
    ]
    topic_of = {row.ticket_id: row.topic for row in truth.collect()}
    relevance = spark.read.parquet(str(root / "truth" / "search_relevance")).collect()
    expected = {
        (number, ticket)
        for number, (topic, _) in enumerate(SEARCH_QUERIES, start=1)
        for ticket, ticket_topic in topic_of.items()
        if ticket_topic == topic
    }
    assert {(r.query_id, r.document_id) for r in relevance} == expected and expected
    churn = spark.read.parquet(str(root / "truth" / "customer_churn"))
    assert churn.count() == SCALE.customers_on(SCALE.days - 1)


def test_a_day_bigger_than_rows_per_file_is_split_into_parts(spark, tmp_path):
    landing, truth = str(tmp_path / "landing"), str(tmp_path / "truth")
    counts, date = SCALE.counts(0), DATES[0]
    land_day(spark, landing, truth, None, SCALE, 0, rows_per_file=20)
    folder = tmp_path / "landing" / "orders" / date
    parts = sorted(path.name for path in folder.glob("*.csv"))
    assert parts == [f"orders-{date}-{part:05d}.csv" for part in range(-(-counts.order_records // 20))]
    data_lines = 0
    for name in parts:
        lines = (folder / name).read_text().splitlines()
        assert lines[0] == orders_csv_header(SCALE, 0)
        data_lines += len(lines) - 1
    assert data_lines == counts.order_records
    assert len(list((tmp_path / "landing" / "order_lines" / date).glob("*.parquet"))) > 1
    # landing the day again in one file leaves no part of the earlier landing behind
    land_day(spark, landing, truth, None, SCALE, 0)
    assert sorted(path.name for path in folder.glob("*.csv")) == [f"orders-{date}.csv"]


def test_land_day_checks_its_arguments(spark, tmp_path):
    with pytest.raises(ValueError, match=r"day_index must be in 0 \.\. 1"):
        land_day(spark, str(tmp_path), str(tmp_path), None, SCALE, 2)
    with pytest.raises(TypeError, match="scale must be a DemoScale"):
        land_day(spark, str(tmp_path), str(tmp_path), None, "small", 0)
    with pytest.raises(ValueError, match="rows_per_file must be a positive int"):
        land_day(spark, str(tmp_path), str(tmp_path), None, SCALE, 0, rows_per_file=0)
    assert not list(tmp_path.iterdir())


@pytest.mark.slow
def test_the_shop_database_gets_each_days_changes_and_landing_again_changes_nothing(
    spark, postgres, tmp_path
):
    connection = JdbcConnection(name="test", url=postgres.jdbc_url, user=postgres.user)
    postgres.psql("DROP TABLE IF EXISTS customers, products, customers__staging, products__staging")

    written = land_day(spark, str(tmp_path / "landing"), str(tmp_path / "truth"), connection, SCALE, 0)
    assert (written["customers"], written["products"]) == (SCALE.customers_on(0), SCALE.products)
    upserted = land_database_day(spark, connection, SCALE, 1)
    assert upserted["customers"] >= SCALE.signups_per_day

    def stored(table: str):
        return jdbc.read(spark, connection, dbtable=table)

    assertDataFrameEqual(stored("customers"), build_customer_snapshot(spark, SCALE, 1))
    assertDataFrameEqual(stored("products"), build_product_snapshot(spark, SCALE, 1))
    digest = (
        "SELECT md5(string_agg(c::text, '|' ORDER BY customer_id)) FROM customers c; "
        "SELECT md5(string_agg(p::text, '|' ORDER BY product_id)) FROM products p"
    )
    before = postgres.psql(digest)
    land_database_day(spark, connection, SCALE, 1)
    land_database_day(spark, connection, SCALE, 0)  # an earlier day never undoes a later one
    assert postgres.psql(digest) == before
    keys = postgres.psql(
        "SELECT table_name, column_name FROM information_schema.key_column_usage "
        "WHERE constraint_name IN ('customers_pkey', 'products_pkey') ORDER BY table_name"
    )
    assert keys.split() == ["customers|customer_id", "products|product_id"]
    assert postgres.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%staging'").strip() == "0"


def test_demo_data_job_lands_files_under_the_lakehouse_root(spark, lakehouse_config):
    params = DemoDataParams(scale=0.05, days=2, seed=3, connection=None, day=1)
    context = make_context("demo_data", lakehouse_config, spark, params)
    DemoDataJob().run(context)
    landing = Path(context.layout.files_location("landing"))
    truth = Path(context.layout.files_location("demo", "ground_truth"))
    date = DATES[1]
    assert (landing / "orders" / date / f"orders-{date}.csv").exists()
    assert (truth / "ticket_topics" / f"day={date}" / f"ticket_topics-{date}.parquet").exists()
    assert not (landing / "orders" / DATES[0]).exists()
    assert context.rows_written == {}  # no lakehouse table


def test_demo_data_job_refuses_a_day_outside_its_days(spark, lakehouse_config):
    from lakehouse.errors import JobParameterError

    context = make_context(
        "demo_data", lakehouse_config, spark, DemoDataParams(days=2, day=2, connection=None)
    )
    with pytest.raises(JobParameterError, match=r"day must be in 0 \.\. 1"):
        DemoDataJob().run(context)


def test_lookups_name_an_order_phone_or_product_that_each_relevant_ticket_mentions(spark, landed):
    root, _ = landed
    truth = root / "truth" / "ticket_lookups"
    queries = {q.query_id: q for q in spark.read.parquet(str(truth / "queries")).collect()}
    relevance = spark.read.parquet(str(truth / "relevance")).select("query_id", "document_id").collect()
    schema = T.StructType([*TICKETS_SCHEMA.fields, T.StructField(CORRUPT, T.StringType())])
    read = spark.read.schema(schema).options(mode="PERMISSIVE", columnNameOfCorruptRecord=CORRUPT)
    tickets = {
        t.ticket_id: t
        for t in read.json(str(root / "landing" / "tickets")).where(f"{CORRUPT} IS NULL").collect()
    }
    products = {p.product_id: p.name for p in build_product_snapshot(spark, SCALE, 1).collect()}
    # the same lookup on two days is the same row: one id, one text
    assert len({(q.query_id, q.query) for q in queries.values()}) == len(queries)
    assert queries and {q.kind for q in queries.values()} <= {"order", "phone", "product"}
    relevant: dict[str, set[int]] = {}
    for pair in relevance:
        relevant.setdefault(pair.query_id, set()).add(pair.document_id)
    assert set(relevant) == set(queries)
    for query_id, documents in relevant.items():
        kind, thing = query_id.split("-", 1)
        for ticket in (tickets[d] for d in documents if d in tickets):
            text = f"{ticket.subject} {ticket.body}"
            if kind == "order":
                assert ticket.order_id == int(thing) and re.search(rf"(?<![0-9]){thing}(?![0-9])", text)
                assert thing in queries[query_id].query
            elif kind == "phone":
                assert thing == re.sub("[^0-9]", "", re.search(r"\+[0-9]+(?: [0-9]+)+", text).group(0))
            else:
                name = products[int(thing)]
                assert ticket.product_id == int(thing) and name.lower() in text.lower()
                assert name.lower() in queries[query_id].query.lower()
    # and every ticket that mentions its own order is found by that order's lookup
    for ticket in tickets.values():
        if ticket.order_id is not None and re.search(
            rf"(?<![0-9]){ticket.order_id}(?![0-9])", f"{ticket.subject} {ticket.body}"
        ):
            assert ticket.ticket_id in relevant[f"order-{ticket.order_id}"]
