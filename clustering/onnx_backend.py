"""The ONNX Runtime backend: the same model, exported once to ONNX, int8 by default.

The export is made from the model folder itself (never downloaded): the transformer with its
mean pooling and L2 normalisation as one graph, then, for ``onnx-int8``, its weight matrices
quantised to int8 per output channel with activations quantised per batch (dynamic
quantisation; fast on CPUs with VNNI). The files are kept under the data folder, named by a
fingerprint of the model's files and the recipe, so a changed model or recipe makes new files
and the embedder's slug (``st:<model>:onnx-int8-r1``) keeps its vectors apart in the cache.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rootline.clustering.embedding import Progress, bundled_model_path, model_slug
from rootline.errors import ConfigError

__all__ = ["EXPORT_RECIPE", "OnnxEmbedder", "exported_model", "model_fingerprint"]

#: Bumped whenever the export or quantisation changes the vectors: new files, new slug.
EXPORT_RECIPE = 1
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")


def model_fingerprint(model_path: Path) -> str:
    """A short hash of the model's configuration and weights: the name of its exports."""
    digest = hashlib.sha256()
    for name in ("config.json", *_WEIGHTS):
        path = model_path / name
        if path.is_file():
            digest.update(name.encode())
            with path.open("rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    digest.update(block)
    return digest.hexdigest()[:12]


def _check_mean_pooled(model_path: Path) -> int:
    """The model's maximum sequence length, once it is known to be a mean-pooled encoder
    (the only kind the exported graph reproduces)."""
    modules_file = model_path / "modules.json"
    if not modules_file.is_file():
        raise ConfigError(f"{modules_file} is missing: not a sentence-transformers model folder")
    modules = json.loads(modules_file.read_text(encoding="utf-8"))
    kinds = [m.get("type", "").rsplit(".", 1)[-1] for m in modules]
    pooling = next((m for m in modules if m.get("type", "").endswith("Pooling")), None)
    mean = False
    if pooling is not None:
        config = model_path / pooling.get("path", "") / "config.json"
        modes = json.loads(config.read_text(encoding="utf-8")) if config.is_file() else {}
        on = {k for k, v in modes.items() if k.startswith("pooling_mode_") and v is True}
        mean = on == {"pooling_mode_mean_tokens"}
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"} or not mean:
        raise ConfigError(
            f"{modules_file}: the onnx backends run mean-pooled transformer models only; "
            "set ROOTLINE_EMBED_BACKEND=torch for this model"
        )
    sbert = model_path / "sentence_bert_config.json"
    config = json.loads(sbert.read_text(encoding="utf-8")) if sbert.is_file() else {}
    return int(config.get("max_seq_length") or 256)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's and quantiser's advice (tracer warnings, pre-processing hints)."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        root.setLevel(level)


def _export_fp32(model_path: Path, dest: Path) -> None:
    import torch
    from transformers import AutoModel

    # Eager attention traces to plain MatMul/Softmax that take the padding mask as an input.
    model = AutoModel.from_pretrained(str(model_path), attn_implementation="eager").eval()

    class _Pooled(torch.nn.Module):
        def __init__(self, encoder: Any) -> None:
            super().__init__()
            self.encoder = encoder

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2.0, dim=1)

    # Traced with padding in the second row, so the mask stays a real input of the graph.
    ids = torch.ones((2, 16), dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    mask[1, 9:] = 0
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            _Pooled(model),
            (ids, mask),
            str(dest),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "embedding": {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )


def _quantise_int8(source: Path, dest: Path) -> None:
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(
        str(source),
        str(dest),
        weight_type=QuantType.QInt8,
        # Per output channel: per-tensor scales cost several points of cosine on this model.
        per_channel=True,
        op_types_to_quantize=["MatMul"],
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def _write_atomically(dest: Path, make: Any, *args: Any) -> None:
    """Build ``dest`` under a temporary name and move it into place: a concurrent or
    interrupted export never leaves half a model under the real name."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}-", suffix=".onnx", dir=dest.parent)
    os.close(fd)
    try:
        with _quiet():
            make(*args, Path(tmp))
        os.replace(tmp, dest)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def exported_model(model_path: Path, folder: Path, *, int8: bool) -> Path:
    """The ONNX file of ``model_path`` in ``folder``, exported first if it is not there yet.

    Args:
        model_path: the sentence-transformers model folder.
        folder: where exports are kept (``<data dir>/models``).
        int8: the int8-quantised model rather than the float32 one.

    Raises:
        ConfigError: the model is not one the export reproduces.
    """
    _check_mean_pooled(model_path)
    name = model_slug(model_path).removeprefix("st:")
    home = folder / f"{name}-{model_fingerprint(model_path)}"
    fp32 = home / f"model-fp32-r{EXPORT_RECIPE}.onnx"
    if not fp32.is_file():
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        _write_atomically(fp32, _export_fp32, model_path)
    if not int8:
        return fp32
    quantised = home / f"model-int8-r{EXPORT_RECIPE}.onnx"
    if not quantised.is_file():
        _write_atomically(quantised, _quantise_int8, fp32)
    return quantised


class OnnxEmbedder:
    """The sentence-transformers model run by ONNX Runtime on the CPU.

    Texts are tokenised with the model's own fast tokenizer (whitespace stripped, truncated at
    the model's maximum length, as sentence-transformers does), sorted by token count and
    batched so that each batch pads little: padding costs time, and with int8 it also widens
    the activations' quantisation range.
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        export_dir: Path,
        int8: bool = True,
        batch_size: int = 64,
        threads: int = 0,
    ) -> None:
        self.model_path = Path(model_path) if model_path else bundled_model_path()
        if not self.model_path.is_dir():
            raise ConfigError(f"model folder {self.model_path} does not exist")
        self.export_dir = Path(export_dir)
        self.int8 = int8
        self.batch_size = batch_size
        self.threads = threads
        kind = "onnx-int8" if int8 else "onnx"
        self.slug = f"{model_slug(self.model_path)}:{kind}-r{EXPORT_RECIPE}"
        self._session: Any = None
        self._tokenizer: Any = None
        self._pad_id = 0

    def _load(self) -> tuple[Any, Any]:
        if self._session is None:
            import onnxruntime as ort
            from tokenizers import Tokenizer

            max_length = _check_mean_pooled(self.model_path)
            path = exported_model(self.model_path, self.export_dir, int8=self.int8)
            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads  # 0: one per physical core
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            self._session = ort.InferenceSession(
                str(path), options, providers=["CPUExecutionProvider"]
            )
            tokenizer = Tokenizer.from_file(str(self.model_path / "tokenizer.json"))
            tokenizer.no_padding()
            tokenizer.enable_truncation(max_length)
            config = json.loads((self.model_path / "config.json").read_text(encoding="utf-8"))
            self._pad_id = int(config.get("pad_token_id") or 0)
            self._tokenizer = tokenizer
        return self._session, self._tokenizer

    def _run(self, session: Any, encodings: Sequence[Any]) -> np.ndarray:
        width = max(len(e.ids) for e in encodings)
        ids = np.full((len(encodings), width), self._pad_id, dtype=np.int64)
        mask = np.zeros((len(encodings), width), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        vectors = session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        return np.asarray(vectors, dtype=np.float32)

    def encode(self, texts: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed ``texts`` as unit-length float32 rows; ``progress(k)`` after each chunk."""
        session, tokenizer = self._load()
        dim = int(session.get_outputs()[0].shape[-1] or 384)
        out = np.empty((len(texts), dim), dtype=np.float32)
        order = np.argsort([len(t) for t in texts], kind="stable")
        step = self.batch_size * 8
        for start in range(0, len(texts), step):
            idx = order[start : start + step]
            encodings = tokenizer.encode_batch([texts[i].strip() for i in idx])
            by_tokens = np.argsort([len(e.ids) for e in encodings], kind="stable")
            for lo in range(0, len(idx), self.batch_size):
                part = by_tokens[lo : lo + self.batch_size]
                out[idx[part]] = self._run(session, [encodings[p] for p in part])
            if progress:
                progress(len(idx))
        return out
