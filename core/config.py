"""Project settings: `nerloop.toml` in the project folder, overridden by `NERLOOP_*` variables.

Every field has a docstring; `nerloop settings` prints them (core/settings_report.py). The API
key is a SecretStr so it never shows in a repr, a log line or an error message, and it is never
written to the project.
"""

from __future__ import annotations

import os
import re
import tomllib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from nerloop.core import secrets

SETTINGS_FILE = "nerloop.toml"

PretrainedChoice = Literal["latest", "off"]
"""Whether training starts the ner's tok2vec from the latest pretrained weights."""
SilverChoice = Literal["auto", "on", "off"]
"""Whether training adds silver data (the `silver` setting)."""


class _SettingsFile(TomlConfigSettingsSource):
    """nerloop.toml as editors save it: a UTF-8 byte order mark (Windows Notepad writes one) is
    accepted, as in taxonomy.toml; bytes that are not UTF-8 are one clear line."""

    def _read_file(self, file_path: Any) -> dict[str, Any]:
        data = Path(file_path).read_bytes()
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = data[: exc.start].count(b"\n") + 1
            raise ValueError(
                f"not UTF-8 (byte 0x{data[exc.start]:02x} on line {line}); save it as UTF-8"
            ) from None
        return tomllib.loads(text)


class SettingsError(ValueError):
    """Settings that cannot be used; the message names the file or variable and the field."""


MAX_RATE_WAIT = 600.0
"""Longest wait for a request's turn under llm_requests_per_minute, in seconds."""
MIN_REQUESTS_PER_MINUTE = 60.0 / MAX_RATE_WAIT


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NERLOOP_",
        extra="forbid",
        validate_default=True,
        populate_by_name=True,
        # The docstrings under the fields become their descriptions: `nerloop settings`
        # prints them.
        use_attribute_docstrings=True,
    )

    # -- LLM ---------------------------------------------------------------------------------
    llm_base_url: str = "http://localhost:11434/v1"
    """Base URL of an OpenAI-compatible API (OpenAI, Ollama's /v1, vLLM, llama.cpp, LM Studio)."""
    llm_model: str = ""
    """Model name sent with each request; empty means the LLM is not configured."""
    llm_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NERLOOP_LLM_API_KEY", "OPENAI_API_KEY")
    )
    """API key, from NERLOOP_LLM_API_KEY or else OPENAI_API_KEY. Never stored anywhere."""
    llm_temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    """Sampling temperature; 0 keeps answers repeatable and the cache meaningful."""
    llm_max_tokens: int = Field(default=512, gt=0)
    """Upper bound on tokens in one answer."""
    llm_timeout: float = Field(default=60.0, gt=0)
    """Seconds to wait for one response before it counts as a timeout (and is retried)."""
    llm_concurrency: int = Field(default=8, ge=1, le=256)
    """Requests in flight at once, at most."""
    llm_requests_per_minute: float = Field(default=0.0, ge=0)
    """Rate limit on requests started per minute; 0 means no limit. At least
    MIN_REQUESTS_PER_MINUTE otherwise: below it a request would wait over MAX_RATE_WAIT
    seconds for its turn, which looks like a hang."""
    llm_max_retries: int = Field(default=5, ge=0, le=20)
    """Retries of one request on timeouts, connection errors, 429 and 5xx."""
    llm_price_in_per_1k: float = Field(default=0.0, ge=0)
    """Price of 1,000 prompt tokens, for the cost figures; 0 when unknown or free."""
    llm_price_out_per_1k: float = Field(default=0.0, ge=0)
    """Price of 1,000 completion tokens."""
    llm_batch: bool = False
    """Ask for all labels of a text in one call instead of one call per label."""

    # -- Alignment -----------------------------------------------------------------------------
    align_threshold: float = Field(default=85.0, ge=0, le=100)
    """Lowest rapidfuzz score (0-100) at which a fuzzy answer is placed in the text."""
    align_mode: Literal["strict", "contract", "expand"] = "expand"
    """How `Doc.char_span` snaps an answer to token boundaries."""

    # -- Few-shot retrieval --------------------------------------------------------------------
    embed_base_url: str = ""
    """Base URL of an OpenAI-compatible `/embeddings` API (e.g. http://localhost:11434/v1);
    empty means the local hashed n-gram embedder, which needs no network."""
    embed_model: str = ""
    """Embedding model name sent to `embed_base_url`; empty means the local embedder."""
    embed_dim: int = Field(default=128, ge=8, le=4096)
    """Dimensions of the local embedder's vectors. A search reads them all, so its cost grows
    with the dimensions, for slightly better neighbours (bench/RESULTS.md, "Retrieval", has
    both measured)."""
    embed_api_key: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("NERLOOP_EMBED_API_KEY")
    )
    """API key of the embeddings endpoint (NERLOOP_EMBED_API_KEY); the LLM's key when unset.
    Never stored anywhere."""
    fewshot_k: int = Field(default=3, ge=0, le=20)
    """Most similar examples put into an LLM prompt (accepted spans in per-label prompts, complete
    texts in batch prompts); 0 turns few-shot examples off."""
    fewshot_min_similarity: float = Field(default=0.35, ge=-1.0, le=1.0)
    """Lowest cosine similarity at which an accepted text is used as an example. 0.35 suits the
    local embedder: it sits above nearly all random pairs and below the typical nearest
    neighbour (bench/RESULTS.md, "Retrieval"); an endpoint's model has its own scale."""
    fewshot_max_tokens: int = Field(default=400, ge=0)
    """Budget of prompt tokens for the examples (estimated at 4 characters a token)."""

    # -- Annotation ----------------------------------------------------------------------------
    lease_seconds: float = Field(default=600.0, gt=0)
    """How long a task stays reserved for the annotator it was given to. The app renews the
    leases of the tasks it holds three times per lease while it is open, so this is how long
    the tasks of an app that is gone (closed laptop, lost connection, crash) wait before other
    annotators get them."""
    overlap: bool = False
    """Give every task to every annotator (for agreement studies) instead of to one."""
    source_order: list[Literal["rule", "model", "llm", "import"]] = Field(
        default=["rule", "model", "llm", "import"]  # pydantic copies it for each instance
    )
    """Which source's proposals the queue asks first; model proposals are asked most uncertain
    (score nearest 0.5) first."""
    keymap: dict[str, str] = Field(default_factory=dict)
    """Key remapping for the app: binding id to keys, e.g. {"annotate.accept" = "y,enter"}."""

    # -- Training ------------------------------------------------------------------------------
    policy: Literal["missing", "complete"] = "complete"
    """Uncovered tokens of texts reviewed for every label: `complete` makes them O, `missing`
    leaves them unknown (see bench/RESULTS.md for which trains the better model)."""
    silver: SilverChoice = "auto"
    """Silver data: `on` adds the LLM's proposals on pool texts nobody reviewed yet (no answers,
    no marks; never gold) to the training set as entities, reviewed answers always winning;
    `off` trains on reviewed texts only; `auto` trains both ways and promotes whichever scores
    better on gold (both scores are kept on the run; without gold it trains without silver).
    `nerloop train --silver` overrides it for one run. See core/training/silver.py."""
    retrain_every: int = Field(default=200, ge=0)
    """Retrain in the background after this many new accepted answers; 0 turns it off."""
    train_max_steps: int = Field(default=2000, ge=0)
    """Upper bound on optimiser steps in one training run."""
    pretrained_tok2vec: PretrainedChoice = "latest"
    """`latest`: training starts the ner's tok2vec from the weights of the latest finished
    `nerloop pretrain` run (pretrained on the pool's raw text), when there is one and its
    architecture and language still match; `off`: from random weights. Each run records which
    it used. No weights exist until `nerloop pretrain` is run, so "latest" follows that choice;
    on MIT Movie, 30 epochs gained F over scratch at every measured number of decisions, most
    with few (bench/RESULTS.md, "Pretraining")."""
    rules_win: bool = True
    """In the packaged pipeline, a rule match replaces an overlapping entity the model found;
    false keeps the model's entity instead."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file comes last: the environment overrides it, and arguments override both.
        return (init_settings, env_settings, _SettingsFile(settings_cls))

    @field_validator("llm_base_url", "embed_base_url")
    @classmethod
    def _usable_url(cls, url: str) -> str:
        # Checked here so that a typo is one line about the setting, not a traceback from the
        # socket layer at the first request. The message never repeats the URL: it may hold
        # credentials.
        if not url:
            return url
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 (raises ValueError for a port outside 0-65535)
        except ValueError as exc:
            raise ValueError(f"not a usable URL ({exc})") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not a usable URL (it must start with http:// or https:// and a host)")
        return url

    @field_validator("llm_requests_per_minute")
    @classmethod
    def _rate_that_moves(cls, rpm: float) -> float:
        if 0 < rpm < MIN_REQUESTS_PER_MINUTE:
            raise ValueError(
                f"below {MIN_REQUESTS_PER_MINUTE} a request would wait over {MAX_RATE_WAIT:.0f} s "
                "for its turn; use 0 for no limit"
            )
        return rpm

    @field_validator("llm_api_key", "embed_api_key")
    @classmethod
    def _header_safe_key(cls, key: SecretStr | None) -> SecretStr | None:
        # An HTTP header holds ASCII only; the message never repeats the key.
        if key is not None and not key.get_secret_value().strip().isascii():
            raise ValueError("the key must be ASCII (it travels in an HTTP header)")
        if key is not None and any(ord(c) < 32 for c in key.get_secret_value().strip()):
            raise ValueError("the key must not hold control characters")
        return key

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_model and self.llm_base_url)


def load_settings(project_dir: Path | None, **overrides: Any) -> Settings:
    """Settings for a project: defaults < nerloop.toml < NERLOOP_* env < `overrides`."""
    path = project_dir / SETTINGS_FILE if project_dir is not None else None
    if path is not None and not path.exists():
        path = None
    if path is not None and not path.is_file():
        raise SettingsError(f"{path}: not a file (the settings must be a TOML file; move it away)")

    class ProjectSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    # Registered before validation, so that even an error about a bad setting cannot show them.
    secrets.register(*(os.environ.get(name) for name in SECRET_ENV))
    for name in URL_ENV:
        secrets.register_url(os.environ.get(name))
    try:
        settings = ProjectSettings(**overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        where = str(path) if path else "environment"
        raise SettingsError(f"{where}: field {field}: {err['msg']}") from None
    except Exception as exc:  # a TOML syntax error in nerloop.toml, or an unparsable variable
        env = _env_parse_error(str(exc))
        if env is not None:
            raise SettingsError(env) from None
        raise SettingsError(f"{path or 'settings'}: {exc}") from None
    register_secrets(settings)
    return settings


def _env_parse_error(message: str) -> str | None:
    """pydantic-settings' "error parsing value for field X from source EnvSettingsSource" as
    a line naming the variable and the form it takes."""
    found = re.search(r'field "(\w+)" from source "EnvSettingsSource"', message)
    if found is None:
        return None
    name = found.group(1)
    example = {
        "keymap": '{"annotate.accept": "y,enter"}',
        "source_order": '["rule", "model", "llm", "import"]',
    }.get(name, "a JSON value")
    return f"NERLOOP_{name.upper()}: not valid JSON; it takes JSON, for example {example}"


SECRET_ENV = ("NERLOOP_LLM_API_KEY", "OPENAI_API_KEY", "NERLOOP_EMBED_API_KEY")
URL_ENV = ("NERLOOP_LLM_BASE_URL", "NERLOOP_EMBED_BASE_URL")


def register_secrets(settings: Settings) -> None:
    """Have core/secrets.redact mask every credential these settings hold (keys from
    nerloop.toml too, and credentials in the base URLs)."""
    for key in (settings.llm_api_key, settings.embed_api_key):
        if key is not None:
            secrets.register(key.get_secret_value())
    secrets.register_url(settings.llm_base_url)
    secrets.register_url(settings.embed_base_url)
