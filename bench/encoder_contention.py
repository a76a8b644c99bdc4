"""MiniLM's query forward alone and beside Python threads that hold the GIL.

In the API a lite query's encoder batch runs while other request threads run Python. Each
time the forward needs the GIL back it waits for one of them to let go (up to the switch
interval, 5 ms), so what counts is how often it needs it, not its arithmetic. This times a
batch of 4 queries (one torch thread) alone and beside 1 and 3 threads spinning in Python,
with the weights packed for oneDNN and plain, and the same with two encoder lanes (the
API's default) as batches a second. The ratio beside / alone is the figure; the absolute
times are the machine's.

    python -m bench.encoder_contention [--batches 40] [--out bench/results/encoder_contention.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
from pathlib import Path

import retrieval.omp  # noqa: F401  (before torch)
from retrieval.embedders.bert import BertSentenceEncoder
from retrieval.embedders.minilm import load_text_encoder

HERE = Path(__file__).resolve().parent
QUESTION = "Question: What problem does the peer-to-peer electronic cash system solve? ({})"


class Spinners:
    """`n` threads running Python (holding the GIL but for its forced switches)."""

    def __init__(self, n: int) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._spin, daemon=True) for _ in range(n)]

    def _spin(self) -> None:
        total = 0
        while not self._stop.is_set():
            for i in range(1000):
                total += i

    def __enter__(self) -> Spinners:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()


def batch_ms(encoder: BertSentenceEncoder, batches: int, start: int) -> float:
    """Median wall ms of `batches` forwards of 4 new queries each."""
    times = []
    for b in range(batches):
        texts = [QUESTION.format(start + 4 * b + i) for i in range(4)]
        t0 = time.perf_counter()
        encoder.encode(texts)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def lanes_per_s(encoder: BertSentenceEncoder, batches: int, start: int) -> float:
    """Batches of 4 a second from two threads encoding at once."""

    def lane(offset: int) -> None:
        batch_ms(encoder, batches // 2, offset)

    threads = [threading.Thread(target=lane, args=(start + k * 4 * batches,)) for k in range(2)]
    t0 = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return 2 * (batches // 2) / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "encoder_contention.json")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)  # the app's setting (Settings.torch_threads)
    encoder = load_text_encoder(precision="auto")
    assert isinstance(encoder, BertSentenceEncoder)
    modes = ["packed", "plain"] if encoder.weights_packed else ["plain"]
    rows = []
    start = 0
    for mode in modes:
        encoder.pack_weights(mode == "packed")
        batch_ms(encoder, 3, 10**6)  # trace, warm
        row: dict[str, object] = {"weights": mode}
        for spinners in (0, 1, 3):
            with Spinners(spinners):
                row[f"batch_ms_{spinners}_spinning"] = round(
                    batch_ms(encoder, args.batches, start), 1
                )
                start += 4 * args.batches
                row[f"two_lanes_per_s_{spinners}_spinning"] = round(
                    lanes_per_s(encoder, args.batches, start), 1
                )
                start += 8 * args.batches
        rows.append(row)

    print(f"MiniLM forward of 4 queries, {'bfloat16' if encoder.bfloat16 else 'float32'}")
    print(
        f"{'weights':<8}{'ms alone':>10}{'1 spinning':>12}{'3 spinning':>12}"
        f"{'2 lanes/s':>11}{'1 spinning':>12}{'3 spinning':>12}"
    )
    for row in rows:
        print(
            f"{row['weights']!s:<8}{row['batch_ms_0_spinning']!s:>10}"
            f"{row['batch_ms_1_spinning']!s:>12}{row['batch_ms_3_spinning']!s:>12}"
            f"{row['two_lanes_per_s_0_spinning']!s:>11}{row['two_lanes_per_s_1_spinning']!s:>12}"
            f"{row['two_lanes_per_s_3_spinning']!s:>12}"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"rows": rows, "bfloat16": encoder.bfloat16}, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
