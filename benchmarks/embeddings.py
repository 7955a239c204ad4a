"""Embedding throughput: the ``embed_documents`` job against a plain ``SentenceTransformer.encode``
loop, on the same texts and the same threads, in one run.

The texts are ``--texts`` support tickets (full: 50,000) written by the demo generator
(:func:`lakehouse.demo.generator.build_tickets`, subject and body, 40 to 90 tokens each), stored
once as the ``silver.tickets`` Delta table of a lakehouse under data/benchmarks/embeddings.

- ours: ``run_job("embed_documents")`` into an empty ``gold.tickets_embeddings``: read the table,
  hash the documents, chunk them with the tokenizer, embed them with all-MiniLM-L6-v2 in the Python
  workers (one per core, one torch thread each: ``threads: auto``), MERGE into Delta, record the
  run; after a warm-up that starts the workers and loads the model in each;
- plain: the same model in this process, ``torch.set_num_threads(<cores>)``, ``encode`` of the
  same texts (subject, a blank line, body) in one call, batch 64, normalised.

Each prints sentences/s (the plain loop's model loading is not timed, nor is ours after the
warm-up). Goal: ours >= 0.85x plain. Results: ``benchmarks/results/embeddings.json``.

    python benchmarks/embeddings.py [--quick] [--texts N]

--quick: 5,000 texts.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT_DIR))
from benchmarks.support.results import write_results  # noqa: E402

WORK = PROJECT_DIR / "data" / "benchmarks" / "embeddings"
GOAL = 0.85
TICKETS_A_DAY_AT_SCALE_100 = 6_000  # about; days are generated until there are enough


def write_tickets(spark, config, texts: int) -> None:
    """``silver.tickets`` with ``texts`` demo tickets, written once per size."""
    from functools import reduce

    from lakehouse.demo.generator import DemoScale, build_tickets
    from lakehouse.io.delta_store import DeltaStore
    from lakehouse.storage.layout import StorageLayout

    marker = WORK / f"_tickets-{texts}.json"
    if marker.exists():
        return
    scale = DemoScale(scale=100.0, days=texts // TICKETS_A_DAY_AT_SCALE_100 + 2)
    days = []
    total = 0
    for day in range(scale.days):
        days.append(build_tickets(spark, scale, day).select("ticket_id", "created_at", "subject", "body"))
        total += scale.tickets_on(day)
        if total >= texts:
            break
    frame = reduce(lambda a, b: a.unionByName(b), days).orderBy("ticket_id").limit(texts)
    DeltaStore(spark, StorageLayout.from_config(config)).overwrite("silver.tickets", frame.repartition(4))
    marker.write_text(json.dumps({"texts": texts}))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="5,000 texts")
    parser.add_argument("--texts", type=int, help="texts (default 50,000; quick 5,000)")
    args = parser.parse_args()
    texts = args.texts or (5_000 if args.quick else 50_000)

    from lakehouse.config import load_config
    from lakehouse.config.model import EmbeddingsSettings
    from lakehouse.embeddings.encode import embed_texts
    from lakehouse.io.delta_store import DeltaStore
    from lakehouse.runs.runner import run_job
    from lakehouse.spark.session import build_session
    from lakehouse.storage.layout import StorageLayout

    root = WORK / "lakehouse"
    config = load_config("local", environ={**os.environ, "LAKEHOUSE_ROOT": str(root)})
    embeddings = EmbeddingsSettings.model_validate(
        {"tables": {"tickets": {"source": "silver.tickets", "id": "ticket_id", "text": ["subject", "body"]}}}
    )
    config = config.model_copy(update={"embeddings": embeddings})
    model = embeddings.model
    spark = build_session(config, app_name="benchmark embeddings")
    threads = spark.sparkContext.defaultParallelism
    write_tickets(spark, config, texts)
    store = DeltaStore(spark, StorageLayout.from_config(config))
    source = store.read("silver.tickets")
    documents = [
        f"{row.subject}\n\n{row.body}"
        for row in source.orderBy("ticket_id").select("subject", "body").collect()
    ]
    print(f"{len(documents):,} texts; {threads} cores; model {model.name}, batch {model.batch_size}")

    # warm-up: start the Python workers and load the model in each
    sample = spark.createDataFrame([(i, documents[i]) for i in range(64)], "id int, chunk_text string")
    embed_texts(sample.repartition(threads), model).count()

    table = "gold.tickets_embeddings"
    shutil.rmtree(store.location(table).location, ignore_errors=True)
    started = time.perf_counter()
    run = run_job("embed_documents", config, spark=spark)
    ours_seconds = time.perf_counter() - started
    embedded = store.read(table).count()
    ours = embedded / ours_seconds
    print(f"ours (embed_documents job): {embedded:,} chunks in {ours_seconds:.1f} s: {ours:,.1f} sentences/s")
    assert run.succeeded and embedded >= len(documents)

    import torch
    from sentence_transformers import SentenceTransformer

    from lakehouse.embeddings.model import OFFLINE, model_path

    os.environ.update(OFFLINE)
    torch.set_num_threads(threads)
    plain_model = SentenceTransformer(str(model_path(model)), device="cpu")
    plain_model.encode(documents[:64], batch_size=model.batch_size)  # warm-up
    started = time.perf_counter()
    plain_model.encode(documents, batch_size=model.batch_size, normalize_embeddings=True)
    plain_seconds = time.perf_counter() - started
    plain = len(documents) / plain_seconds
    print(
        f"plain (SentenceTransformer.encode, {threads} threads): {plain_seconds:.1f} s: "
        f"{plain:,.1f} sentences/s"
    )

    ratio = ours / plain
    met = ratio >= GOAL
    print(f"ratio: ours {ratio:.2f}x plain; goal >= {GOAL}: {'met' if met else 'NOT met'}")
    path = write_results(
        "embeddings",
        args.quick,
        {"texts": len(documents), "chunks": embedded, "threads": threads, "model": model.name,
         "batch_size": model.batch_size},
        {"ours_s": round(ours_seconds, 1), "ours_sentences_per_s": round(ours, 1),
         "plain_s": round(plain_seconds, 1), "plain_sentences_per_s": round(plain, 1)},
        round(ratio, 3),
        f"ours >= {GOAL}x plain sentences/s",
        met,
    )  # fmt: skip
    print(f"results: {path}")
    spark.stop()


if __name__ == "__main__":
    main()
