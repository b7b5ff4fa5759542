"""Rootline at scale: 10k and 100k synthetic contacts (1M with --million), SQLite and PostgreSQL.

For each size, ``bench/synthetic.py`` writes a help-desk CSV (40 issues x phrasings x slot
values x noise, wrapped in e-mail dressing; the JSON says how many texts are distinct) and a
second file with ``--new-share`` more contacts. On each database (a fresh SQLite file, a fresh
PostgreSQL database dropped afterwards) four child processes run one after the other, so each
one's peak memory (``ru_maxrss`` from ``wait4``) is its own:

* ``ingest``: ``bench/ingest_speed.py``'s measured ingest of the CSV (rows/s, CPU, peak);
* ``cold``: ``rootline cluster --full`` as the command runs it (``cluster_job``), with a thread
  sampling resident memory every 20 ms and the run's progress naming the stage, so each
  stage (reading, boilerplate, embedding, clustering, saving, labelling) gets its seconds and
  peak; clustering time / embedding time comes from the same run;
* ``incremental``: the new file ingested, then ``rootline cluster`` placing it, timed against
  the cold run;
* ``metrics``: the reads behind the dashboard, a theme page and ``rootline themes --json``
  (``web.queries.dashboard`` and ``theme_figures``, ``rootcause.figures.theme_figures``,
  alerts, overview), first call and the best of three;
* ``web`` (``--web-requests``, 30 by default): ``bench/web_latency.py``'s page p95 against
  the database, served by ``rootline serve``.

Encoding speed is measured once, in its own child, on ``--encode-sample`` of the texts:
plain ``SentenceTransformer.encode`` (fp32, batch 64) and the embedder the settings build
(``ROOTLINE_*`` environment), on the same texts, back to back.

``--embedder hashing`` runs the pipeline with the 384-dimension hashing embedder (vectors the
size of all-MiniLM-L6-v2's, made in a fraction of the time): every stage but the model's
arithmetic at full size, for a machine too slow to encode a million texts; the encode ratio and
texts/s of the model are still measured on the sample. Prints one JSON document.

    .venv/bin/python bench/scale.py                         # 10k, 100k; SQLite and PostgreSQL
    .venv/bin/python bench/scale.py --sizes 10000 --backends sqlite
    nice .venv/bin/python bench/scale.py --sizes 1000000 --web-requests 0      # 1M, the model
    nice .venv/bin/python bench/scale.py --sizes 1000000 --embedder hashing --web-requests 0
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import synthetic

PG_ADMIN = os.environ.get(
    "ROOTLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
_MB = 2**20


# --- memory per stage ---------------------------------------------------------------------


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / _MB


class StageMeter:
    """Seconds and peak resident memory of each named stage, sampled by a thread."""

    def __init__(self, interval: float = 0.02) -> None:
        self.interval = interval
        self.stages: dict[str, dict[str, float]] = {}
        self._current = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> StageMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.enter("")
        self._stop.set()
        self._thread.join()

    def enter(self, name: str) -> None:
        """End the current stage and start ``name`` ("" ends without starting one)."""
        now, cpu, rss = time.perf_counter(), time.process_time(), _rss_mb()
        with self._lock:
            if self._current:
                stage = self.stages[self._current]
                stage["seconds"] += now - stage.pop("_since")
                # CPU time of the process (all threads): on a shared machine, its own cost.
                stage["cpu_seconds"] += cpu - stage.pop("_cpu_since")
                stage["peak_rss_mb"] = max(stage["peak_rss_mb"], rss)
            self._current = name
            if name:
                stage = self.stages.setdefault(
                    name,
                    {
                        "seconds": 0.0,
                        "cpu_seconds": 0.0,
                        "rss_at_start_mb": rss,
                        "peak_rss_mb": rss,
                    },
                )
                stage["_since"], stage["_cpu_since"] = now, cpu

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            rss = _rss_mb()
            with self._lock:
                if self._current:
                    stage = self.stages[self._current]
                    stage["peak_rss_mb"] = max(stage["peak_rss_mb"], rss)

    def report(self) -> dict[str, dict[str, float]]:
        return {
            name: {k: round(v, 2 if k.endswith("seconds") else 1) for k, v in s.items()}
            for name, s in self.stages.items()
        }


def _stage_name(text: str) -> str:
    """The stage a progress line names, without its counts ("embedding 100 texts")."""
    return " ".join(w for w in text.split() if not w.isdigit())


# --- children -------------------------------------------------------------------------------


def _settings() -> Any:
    from rootline.config import Settings

    return Settings()


def _embedder(kind: str) -> Any:
    from rootline.clustering.embedding import HashingEmbedder
    from rootline.pipeline import build_embedder

    # 384 dimensions: vectors the size of all-MiniLM-L6-v2's, so memory is measured at scale.
    return HashingEmbedder(dim=384) if kind == "hashing" else build_embedder(_settings())


def _cluster(url: str, embedder: Any, *, full: bool) -> dict[str, Any]:
    from rootline.clustering.runs import ClusterProgress
    from rootline.db import make_engine, make_session_factory
    from rootline.pipeline import cluster_job

    engine = make_engine(url)
    with StageMeter() as meter:
        meter.enter("reading texts")
        started = time.perf_counter()
        progress = ClusterProgress(stage=lambda text: meter.enter(_stage_name(text)))
        run = cluster_job(
            make_session_factory(engine),
            _settings(),
            full=full,
            embedder=embedder,
            progress=progress,
        )
        seconds = time.perf_counter() - started
    engine.dispose()
    return {
        "seconds": round(seconds, 2),
        "stages": meter.report(),
        "metrics": dict(run.metrics),
        "model": embedder.slug,
    }


def child_cold(args: argparse.Namespace) -> dict[str, Any]:
    embedder = _embedder(args.embedder)
    embedder.encode(["warm-up"])  # loading (or exporting) the model: the process's one-off cost
    out = _cluster(args.url, embedder, full=True)
    stages = out["stages"]
    embed = sum(s["seconds"] for name, s in stages.items() if name.startswith("embedding"))
    if embed and "clustering" in stages:
        out["encoded_per_s"] = round(out["metrics"]["encoded"] / embed)
        cpu = sum(s["cpu_seconds"] for n, s in stages.items() if n.startswith("embedding"))
        out["encoded_per_cpu_s"] = round(out["metrics"]["encoded"] / max(cpu, 1e-9))
        out["clustering_over_embedding"] = round(stages["clustering"]["seconds"] / embed, 3)
    return out


def child_incremental(args: argparse.Namespace) -> dict[str, Any]:
    from ingest_speed import run_one

    ingest = run_one(args.url, args.csv)  # not timed with the run; reported on its own
    embedder = _embedder(args.embedder)
    embedder.encode(["warm-up"])
    return {"ingest": ingest, **_cluster(args.url, embedder, full=False)}


def child_ingest(args: argparse.Namespace) -> dict[str, Any]:
    from ingest_speed import run_one

    from rootline.db import make_engine
    from rootline.ingest.models import Interaction

    out = run_one(args.url, args.csv)
    engine = make_engine(args.url)
    with engine.connect() as conn:
        out["distinct_clean_texts"] = conn.scalar(
            sa.select(sa.func.count(sa.distinct(Interaction.body_clean)))
        )
    engine.dispose()
    return out


def _timed(call: Callable[[], Any], repeat: int = 3) -> dict[str, float]:
    times = []
    for _ in range(1 + repeat):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return {"first_ms": round(times[0] * 1000, 1), "best_ms": round(min(times[1:]) * 1000, 1)}


def child_metrics(args: argparse.Namespace) -> dict[str, Any]:
    from web_latency import EMAIL, PASSWORD

    from rootline.clustering.alerts import theme_alerts
    from rootline.clustering.models import Theme
    from rootline.clustering.stats import overview
    from rootline.db import make_engine, make_session_factory, session_scope
    from rootline.rootcause import figures
    from rootline.web import queries
    from rootline.web.accounts import ensure_user

    engine = make_engine(args.url)
    sessions = make_session_factory(engine)
    with session_scope(sessions) as session:
        ensure_user(session, EMAIL, "admin", PASSWORD)  # for the web pages, if measured
    with sessions() as session:
        ids = list(
            session.scalars(
                sa.select(Theme.id).where(Theme.status == "active").order_by(Theme.size.desc())
            )
        )
        out: dict[str, Any] = {"themes": len(ids)}
        if ids:
            out["queries"] = {
                "dashboard": _timed(lambda: queries.dashboard(session, queries.Filters())),
                "theme_page_largest": _timed(lambda: queries.theme_figures(session, ids[0])),
                "figures_all_themes": _timed(lambda: figures.theme_figures(session, ids)),
                "figures_largest_theme": _timed(lambda: figures.theme_figures(session, ids[:1])),
                "alerts": _timed(lambda: theme_alerts(session)),
                "overview": _timed(lambda: overview(session)),
            }
    engine.dispose()
    return out


def child_encode(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")  # as the embedder loads it
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from sentence_transformers import SentenceTransformer

    from rootline.clustering.embedding import bundled_model_path

    rng = random.Random(11)
    names = list(synthetic.INTENTS)
    texts = [synthetic.issue_text(rng.choice(names), rng) for _ in range(args.encode_sample)]
    plain = SentenceTransformer(str(_settings().model_path or bundled_model_path()), device="cpu")
    plain.encode(texts[:64], batch_size=64)
    embedder = _embedder("model")
    embedder.encode(texts[:64])  # a warm-up for both: first batches pay one-off costs
    out: dict[str, Any] = {"texts": len(texts), "model": embedder.slug}
    wall: list[tuple[float, float]] = []
    cpu: list[tuple[float, float]] = []
    for _ in range(args.encode_rounds):  # alternated, so a busy spell hits both
        times = []
        for encode in (
            lambda: plain.encode(
                texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True
            ),
            lambda: embedder.encode(texts),
        ):
            started, cpu_started = time.perf_counter(), time.process_time()
            encode()
            times.append((time.perf_counter() - started, time.process_time() - cpu_started))
        wall.append((times[0][0], times[1][0]))
        cpu.append((times[0][1], times[1][1]))
    p, r = min(x[0] for x in wall), min(x[1] for x in wall)
    pc, rc = min(x[0] for x in cpu), min(x[1] for x in cpu)
    out.update(
        plain_texts_per_s=round(len(texts) / p, 1),
        rootline_texts_per_s=round(len(texts) / r, 1),
        ratio=round(p / r, 2),
        # CPU seconds of the process (every thread): what each costs on a machine others share.
        plain_texts_per_cpu_s=round(len(texts) / pc, 1),
        rootline_texts_per_cpu_s=round(len(texts) / rc, 1),
        cpu_ratio=round(pc / rc, 2),
        torch_threads=_torch_threads(),
    )
    return out


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


CHILDREN = {
    "ingest": child_ingest,
    "cold": child_cold,
    "incremental": child_incremental,
    "metrics": child_metrics,
    "encode": child_encode,
}


# --- parent ---------------------------------------------------------------------------------


def run_child(
    mode: str, args: argparse.Namespace, folder: Path | None = None, **extra: str
) -> dict[str, Any]:
    """Run one stage in a child process; add its wall time and peak resident memory.

    ``folder`` is the child's data folder (the search index goes there, not into the user's).
    """
    cmd = [sys.executable, __file__, "--child", mode, "--embedder", args.embedder]
    cmd += ["--encode-sample", str(args.encode_sample), "--encode-rounds", str(args.encode_rounds)]
    for key, value in extra.items():
        cmd += [f"--{key}", value]
    started = time.perf_counter()
    env = {**os.environ, "ROOTLINE_DATA_DIR": str(folder)} if folder else None
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        return {"error": f"{mode} child failed with exit code {os.waitstatus_to_exitcode(status)}"}
    report: dict[str, Any] = json.loads(output)
    report["wall_seconds"] = round(time.perf_counter() - started, 2)
    report["process_peak_rss_mb"] = round(usage.ru_maxrss / 1024, 1)
    report["load_1min"] = round(os.getloadavg()[0], 2)
    return report


def data_folder(parent: Path, models: Path) -> Path:
    """A fresh data folder for the children, whose exported models are kept in ``models``.

    The search index a run writes stays with the run; the model export (made once from the
    packaged model) is shared by every run, so it is not redone for each size and database.
    """
    folder = parent / "data"
    folder.mkdir(parents=True, exist_ok=True)
    models.mkdir(parents=True, exist_ok=True)
    (folder / "models").symlink_to(models.resolve(), target_is_directory=True)
    return folder


@contextmanager
def database(backend: str, folder: Path) -> Iterator[str]:
    """A fresh database of ``backend``: a SQLite file, or a PostgreSQL database dropped after."""
    if backend == "sqlite":
        yield f"sqlite:///{folder / 'scale.db'}"
        return
    from load import _postgres_database

    with _postgres_database() as url:
        yield url


def measure(
    args: argparse.Namespace, url: str, files: dict[str, Path], folder: Path
) -> dict[str, Any]:
    """Every stage of one size on one database, with ``folder`` as the data folder."""
    out: dict[str, Any] = {
        "ingest": run_child("ingest", args, folder, url=url, csv=str(files["main"]))
    }
    out["cold"] = run_child("cold", args, folder, url=url)
    out["incremental"] = run_child("incremental", args, folder, url=url, csv=str(files["new"]))
    out["metrics"] = run_child("metrics", args, folder, url=url)
    if args.web_requests:
        from web_latency import PAGES
        from web_latency import measure as web_measure

        themes = out["metrics"].get("themes", 0)
        if themes:
            os.environ["ROOTLINE_DATA_DIR"] = str(folder)  # the server's, as the children's
            pages = web_measure(url, themes, args.web_requests, 2)
            out["web_p95_ms"] = {p: pages[p]["p95_ms"] for p in PAGES}
    cold, inc = out["cold"], out["incremental"]
    if "seconds" in cold and "seconds" in inc:
        out["incremental_over_cold"] = round(inc["seconds"] / cold["seconds"], 4)
    peaks = [c.get("process_peak_rss_mb", 0) for c in (out["ingest"], cold, inc, out["metrics"])]
    out["peak_rss_mb"] = max(peaks)
    return out


def summary(size: int, backend: str, r: dict[str, Any]) -> dict[str, Any]:
    """The headline figures of one size on one database."""
    ingest, cold = r["ingest"], r["cold"]
    stages = cold.get("stages", {})
    queries = r["metrics"].get("queries", {})
    slowest = max(stages, key=lambda s: stages[s]["seconds"]) if stages else None
    return {
        "size": size,
        "backend": backend,
        "ingest_rows_per_s": ingest.get("rows_per_s"),
        "embedding_texts_per_s": cold.get("encoded_per_s"),
        "clustering_over_embedding": cold.get("clustering_over_embedding"),
        "incremental_over_cold": r.get("incremental_over_cold"),
        "cold_seconds": cold.get("seconds"),
        "slowest_stage": slowest,
        "dashboard_ms": queries.get("dashboard", {}).get("best_ms"),
        "figures_all_themes_ms": queries.get("figures_all_themes", {}).get("best_ms"),
        "peak_rss_mb": r["peak_rss_mb"],
        "under_4_gb": r["peak_rss_mb"] < 4096,
    }


def machine() -> dict[str, Any]:
    """Where the figures come from."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    with open("/proc/meminfo") as fh:
        total_kb = int(fh.readline().split()[1])
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "ram_gb": round(total_kb / 2**20, 1),
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _code_version() -> str:
    def git(*cmd: str) -> str:
        return subprocess.run(
            ["git", *cmd], capture_output=True, text=True, cwd=Path(__file__).parent
        ).stdout.strip()

    dirty = git("status", "--porcelain", "--", "clustering", "ingest", "rootline", "bench")
    return git("rev-parse", "--short", "HEAD") + ("+dirty" if dirty else "")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated contact counts")
    parser.add_argument("--million", action="store_true", help="add 1,000,000 to the sizes")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--embedder", choices=["model", "hashing"], default="model")
    parser.add_argument("--new-share", type=float, default=0.01)
    parser.add_argument("--encode-sample", type=int, default=2000)
    parser.add_argument("--encode-rounds", type=int, default=2)
    parser.add_argument(
        "--web-requests", type=int, default=30, help="timed requests per page (0: no web)"
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=Path(__file__).resolve().parent.parent / ".cache" / "bench" / "scale-models",
        help="folder that keeps the exported model between runs",
    )
    parser.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--csv", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        json.dump(CHILDREN[args.child](args), sys.stdout)
        return 0

    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.million and 1_000_000 not in sizes:
        sizes.append(1_000_000)
    report: dict[str, Any] = {
        "machine": machine(),
        "code": _code_version(),
        "embedder": args.embedder,
        "load_1_5_15_start": [round(x, 2) for x in os.getloadavg()],
    }
    if args.encode_sample:
        with tempfile.TemporaryDirectory(prefix="rootline-scale-") as tmp:
            report["encode"] = run_child("encode", args, data_folder(Path(tmp), args.models))
    report["runs"], report["summary"] = {}, []
    for size in sizes:
        with tempfile.TemporaryDirectory(prefix="rootline-scale-") as tmp:
            files = {"main": Path(tmp) / "contacts.csv", "new": Path(tmp) / "new.csv"}
            started = time.perf_counter()
            unique = synthetic.write_contacts(files["main"], size, seed=1)
            new = max(1, round(size * args.new_share))
            synthetic.write_contacts(files["new"], new, seed=2, first_id=size)
            runs: dict[str, Any] = {
                "contacts": size,
                "new_contacts": new,
                "unique_texts": unique,
                "generate_seconds": round(time.perf_counter() - started, 1),
            }
            for backend in args.backends.split(","):
                folder = Path(tmp) / backend
                folder.mkdir()
                try:
                    with database(backend, folder) as url:
                        runs[backend] = measure(args, url, files, data_folder(folder, args.models))
                except sa.exc.OperationalError as exc:  # no server: say so, measure the rest
                    runs[backend] = {"error": str(exc.orig).strip()}
                    continue
                report["summary"].append(summary(size, backend, runs[backend]))
            report["runs"][str(size)] = runs
    report["load_1_5_15_end"] = [round(x, 2) for x in os.getloadavg()]
    json.dump(report, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
