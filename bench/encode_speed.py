"""Encode speed: plain ``SentenceTransformer.encode`` against each embedding backend.

The texts are what a run embeds: the demo help desk's and contact centre's contacts, cleaned
as ingest cleans them, half and half with CLINC150's short questions. The baseline is the
plain call the issue names (float32 PyTorch on the CPU, batch 64, normalised); each backend
is Rootline's embedder on the same texts: ``torch`` (the same model, sorted into chunks by
length), ``onnx`` (ONNX Runtime, float32) and ``onnx-int8`` (int8 weights per channel, dynamic
activations). Rounds are interleaved and each round's ratio compares runs made one after the
other; the median round counts, in wall time and in the process's CPU time (which other work
on a shared machine sways less). Cosine agreement is against the baseline's vectors. The ONNX
exports are made once (from the packaged model files) into ``--model-dir``. Prints one JSON
document.

    .venv/bin/python bench/encode_speed.py --model-dir .cache/bench/models
    .venv/bin/python bench/encode_speed.py --torch-threads 1 --backends torch,onnx-int8@1
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("torch", "onnx", "onnx-int8")


def corpus(n: int, seed: int = 0) -> list[str]:
    """``n`` texts: half cleaned demo contacts, half CLINC150 questions, shuffled."""
    from rootline.ingest.cleaning import clean_text

    fixtures = ROOT / "fixtures"
    mails: list[str] = []
    for name, column in (
        ("demo_helpdesk.csv", "description"),
        ("demo_contact_center.csv", "notes"),
    ):
        with (fixtures / name).open(encoding="utf-8") as fh:
            mails += [clean_text(row[column]) for row in csv.DictReader(fh)]
    mails = [m for m in mails if m]
    with gzip.open(fixtures / "clinc150.csv.gz", "rt", encoding="utf-8") as fh:
        questions = [row["text"] for row in csv.DictReader(fh)]
    rng = np.random.default_rng(seed)
    half = n // 2
    picked = [mails[i] for i in rng.choice(len(mails), half, replace=half > len(mails))]
    picked += [questions[i] for i in rng.choice(len(questions), n - half, replace=False)]
    return [picked[i] for i in rng.permutation(len(picked))]


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def _cpu_flags() -> list[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return []
    flags = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return sorted({f for f in flags.split() if f in {"avx2", "avx512f", "avx512_vnni", "amx_int8"}})


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000, help="texts to encode")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--model-dir",
        type=Path,
        default=ROOT / ".cache" / "bench" / "models",
        help="where the ONNX exports are kept (made here once)",
    )
    parser.add_argument(
        "--backends",
        default=",".join(BACKENDS),
        help="comma-separated; an ONNX one may name its threads, e.g. onnx-int8@1",
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=0,
        help="threads of PyTorch for plain and torch (0: its default); with onnx...@1, a "
        "one-thread comparison that a busy machine sways less",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

    import onnxruntime
    import torch
    from sentence_transformers import SentenceTransformer

    from rootline.clustering.embedding import (
        Embedder,
        SentenceTransformerEmbedder,
        bundled_model_path,
    )
    from rootline.clustering.onnx_backend import OnnxEmbedder, exported_model

    if args.torch_threads:
        torch.set_num_threads(args.torch_threads)
    texts = corpus(args.n)
    model_path = bundled_model_path()
    plain_model = SentenceTransformer(str(model_path), device="cpu")

    def plain() -> np.ndarray:
        return np.asarray(
            plain_model.encode(
                texts,
                batch_size=args.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        )

    export_seconds: dict[str, float] = {}
    candidates: dict[str, Embedder] = {}
    for spec in args.backends.split(","):
        backend, _, threads = spec.partition("@")
        if backend == "torch":
            candidates[spec] = SentenceTransformerEmbedder(batch_size=args.batch_size)
            continue
        int8 = backend == "onnx-int8"
        started = time.perf_counter()
        exported_model(model_path, args.model_dir, int8=int8)
        export_seconds[spec] = round(time.perf_counter() - started, 2)
        candidates[spec] = OnnxEmbedder(
            model_path,
            export_dir=args.model_dir,
            int8=int8,
            batch_size=args.batch_size,
            threads=int(threads or 0),
        )
    for embedder in candidates.values():
        embedder.encode(texts[:8])  # load and warm up outside the timing
    plain()

    runs: dict[str, Any] = {"plain": plain, **{b: e.encode for b, e in candidates.items()}}
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in runs}
    vectors: dict[str, np.ndarray] = {}
    load = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, run in runs.items():
            started, cpu = time.perf_counter(), time.process_time()
            vectors[name] = run(texts) if name != "plain" else run()
            seconds[name].append(time.perf_counter() - started)
            cpu_seconds[name].append(time.process_time() - cpu)
        print(json.dumps({k: round(v[-1], 2) for k, v in seconds.items()}), file=sys.stderr)

    results: dict[str, Any] = {}
    for name, times in seconds.items():
        cosine = (vectors[name] * vectors["plain"]).sum(axis=1)
        # Each round's ratio compares runs made one after the other, under the same load.
        per_round = [p / t for p, t in zip(seconds["plain"], times, strict=True)]
        cpu_round = [p / t for p, t in zip(cpu_seconds["plain"], cpu_seconds[name], strict=True)]
        results[name] = {
            "texts_per_s": round(len(texts) / min(times), 1),
            "ratio_vs_plain": round(float(np.median(per_round)), 2),
            "ratio_per_round": [round(r, 2) for r in per_round],
            "seconds_all": [round(t, 2) for t in times],
            # CPU time of the process: less swayed by other work on a shared machine.
            "cpu_seconds_all": [round(t, 2) for t in cpu_seconds[name]],
            "cpu_ratio_vs_plain": round(float(np.median(cpu_round)), 2),
            "cosine_vs_plain_mean": round(float(cosine.mean()), 5),
            "cosine_vs_plain_min": round(float(cosine.min()), 5),
        }
        if name in export_seconds:
            results[name]["export_seconds"] = export_seconds[name]
    report = {
        "benchmark": "encode_speed",
        "texts": len(texts),
        "batch_size": args.batch_size,
        "rounds": args.rounds,
        "machine": {
            "cpu": _cpu_name(),
            "cpus": os.cpu_count(),
            "cpu_flags": _cpu_flags(),
            "torch_threads": torch.get_num_threads(),
            "load_average_at_start": round(load, 2),
            "load_average_at_end": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "torch": torch.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
        "baseline": "SentenceTransformer.encode, float32 PyTorch on the CPU, batch 64",
        "results": results,
    }
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
