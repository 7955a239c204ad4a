"""Labelled lookups of exact things in the demo's tickets, as support staff type them.

A support agent looks a ticket up by what the customer named: an order number ("order 4821"), the
phone number the customer left ("+34 242 051040"), a product's name ("Keyra Flex Wireless Mouse
broken"). Made from the generated tickets, never by hand:

- an *order* lookup for each order number a ticket's text mentions (the ticket's own order, as a
  whole number): relevant are the tickets of that order whose text mentions it;
- a *phone* lookup for each phone number in a ticket's text: relevant are the tickets holding it;
- a *product* lookup for each product whose name a ticket's text holds (in any case): relevant are
  the tickets of that product whose text names it.

A lookup's id is its kind and the thing (``order-4821``, ``phone-34242051040``, ``product-137``),
the same on every day, and its text one of a few phrasings picked by a hash of that id; so the
lookups of a day are a function of the day's tickets, and the days' files together are one
labelled set: each day writes the lookups its tickets make and every (lookup, ticket) pair of its
tickets, so a ticket of a later day about the same order counts as relevant too.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

# phrasings by kind; {x} is the thing looked up
PHRASINGS = {
    "order": ("order {x}", "order #{x}", "#{x} status", "ticket about order {x}", "{x}"),
    "phone": ("{x}", "caller {x}", "call back {x}", "customer phone {x}"),
    "product": ("{x}", "{x} broken", "problem with {x}", "{lower}", "{x} complaint"),
}
_PHONE = r"\+[0-9]+(?: [0-9]+)+"


def _phrased(kind: str, query_id: Column, thing: Column) -> Column:
    """One of the kind's phrasings, picked by a hash of the lookup's id, with the thing filled in."""
    phrasings = PHRASINGS[kind]
    pick = F.pmod(F.xxhash64(query_id), F.lit(len(phrasings)))
    choice = F.element_at(F.array(*[F.lit(p) for p in phrasings]), (pick + 1).cast("int"))
    return F.replace(F.replace(choice, F.lit("{x}"), thing), F.lit("{lower}"), F.lower(thing))


def ticket_lookups(tickets: DataFrame, products: DataFrame) -> tuple[DataFrame, DataFrame]:
    """The lookups a day's tickets make, and their relevant tickets.

    Args:
        tickets: one row per ticket: ``ticket_id``, ``order_id``, ``product_id``, ``subject``,
            ``body`` (other columns are ignored).
        products: one row per product: ``product_id``, ``name``.

    Returns:
        ``queries`` (one row per lookup: ``query_id``, ``query``, ``kind``) and ``relevance`` (one
        row per lookup and ticket: ``query_id``, ``document_id``).
    """
    text = F.concat_ws(" ", "subject", "body")
    written = tickets.select("ticket_id", "order_id", "product_id", text.alias("text"))
    order = F.col("order_id").cast("string")
    orders = written.where(
        F.col("order_id").isNotNull()
        & F.regexp_like("text", F.concat(F.lit("(^|[^0-9])"), order, F.lit("([^0-9]|$)")))
    ).select(
        "ticket_id",
        F.lit("order").alias("kind"),
        F.concat(F.lit("order-"), order).alias("query_id"),
        order.alias("thing"),
    )
    phone = F.regexp_extract("text", _PHONE, 0)
    phones = written.where(phone != "").select(
        "ticket_id",
        F.lit("phone").alias("kind"),
        F.concat(F.lit("phone-"), F.regexp_replace(phone, "[^0-9]", "")).alias("query_id"),
        phone.alias("thing"),
    )
    named = written.join(products.select("product_id", "name"), "product_id").where(
        F.lower("text").contains(F.lower("name"))
    )
    product = named.select(
        "ticket_id",
        F.lit("product").alias("kind"),
        F.concat(F.lit("product-"), F.col("product_id").cast("string")).alias("query_id"),
        F.col("name").alias("thing"),
    )
    mentions = orders.unionByName(phones).unionByName(product)
    queries = (
        mentions.select("query_id", "kind", "thing")
        .distinct()
        .select(
            "query_id",
            F.coalesce(
                *[
                    F.when(F.col("kind") == kind, _phrased(kind, F.col("query_id"), F.col("thing")))
                    for kind in PHRASINGS
                ]
            ).alias("query"),
            "kind",
        )
    )
    relevance = mentions.select("query_id", F.col("ticket_id").alias("document_id")).distinct()
    return queries, relevance
