"""Configuration: defaults, then a TOML file, then `STREAM_AE_*` environment variables.

Later sources win: an environment variable overrides the file, which overrides the
default. Nested keys use `__` in the environment, e.g.
`STREAM_AE_THRESHOLD__QUANTILE=0.995` sets `[threshold] quantile`. The file is the
`path` given to `load_settings`, else the one named by `STREAM_AE_CONFIG`, else none.

>>> s = Settings()
>>> s.window.length, s.threshold.quantile
(32, 0.995)
"""

from __future__ import annotations

import json
import os
import textwrap
import tomllib
from contextvars import ContextVar
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError, model_validator
from pydantic_core import ErrorDetails
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)
from pydantic_settings.exceptions import SettingsError

from stream_ae.errors import ConfigError
from stream_ae.settings.kafka import KafkaSettings
from stream_ae.settings.sections import (
    AlertSettings,
    ColdStartSettings,
    FileSettings,
    LoggingSettings,
    MetricsSettings,
    ModelSettings,
    NormalizeSettings,
    RetrainSettings,
    ScoringSettings,
    ThresholdSettings,
    WindowSettings,
)

__all__ = [
    "CONFIG_ENV",
    "ENV_PREFIX",
    "AlertSettings",
    "ColdStartSettings",
    "FileSettings",
    "KafkaSettings",
    "LoggingSettings",
    "MetricsSettings",
    "ModelSettings",
    "NormalizeSettings",
    "RetrainSettings",
    "ScoringSettings",
    "Settings",
    "ThresholdSettings",
    "WindowSettings",
    "config_path",
    "load_settings",
]

ENV_PREFIX = "STREAM_AE_"
CONFIG_ENV = "STREAM_AE_CONFIG"
"""Environment variable naming the TOML file when `load_settings` is given no path."""

MASK = "**********"
"""What is printed in place of a secret."""


# Set only for the duration of one `load_settings` call, so the class-level source
# hook can see an explicit path without a global that other threads would share.
_CONFIG_PATH: ContextVar[Path | None] = ContextVar("stream_ae_config_path", default=None)


class Settings(BaseSettings):
    """Everything configurable, by section. Build it with `load_settings`."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        use_attribute_docstrings=True,
    )
    window: WindowSettings = WindowSettings()
    normalize: NormalizeSettings = NormalizeSettings()
    model: ModelSettings = ModelSettings()
    scoring: ScoringSettings = ScoringSettings()
    threshold: ThresholdSettings = ThresholdSettings()
    alerts: AlertSettings = AlertSettings()
    cold_start: ColdStartSettings = ColdStartSettings()
    files: FileSettings = FileSettings()
    kafka: KafkaSettings = KafkaSettings()
    metrics: MetricsSettings = MetricsSettings()
    retrain: RetrainSettings = RetrainSettings()
    logging: LoggingSettings = LoggingSettings()

    @model_validator(mode="after")
    def _fit_points_make_windows(self) -> Settings:
        n, w = self.model.fit_points, self.window.length
        if n is not None and n < w:
            raise ValueError(
                f"model.fit_points ({n}) is shorter than window.length ({w}): a series' "
                f"first N points make N - {w - 1} windows; give at least {w + 7} points"
            )
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # First wins: arguments, then environment, then the file. No dotenv or secrets
        # dirs: one file and the environment are easier to reason about in a deployment.
        path = config_path()
        if path is None:
            return init_settings, _OldNames(env_settings)
        return init_settings, _OldNames(env_settings), _OldNames(_toml_source(settings_cls, path))

    def for_child(self) -> str:
        """These settings as one line of JSON, secrets in clear: only for a pipe to a
        child process of this one (`stream-ae retrain --settings-stdin`), never a file."""

        def clear(value: object) -> object:
            if isinstance(value, SecretStr):
                return value.get_secret_value()
            if isinstance(value, dict):
                return {k: clear(v) for k, v in value.items()}
            return value

        return json.dumps(clear(self.model_dump()), default=str)

    @classmethod
    def from_child_line(cls, line: str) -> Settings:
        """Settings from `for_child`'s line, as they were: no file or environment is read."""
        try:
            return cls.model_validate(json.loads(line))
        except (ValueError, ValidationError) as exc:
            raise ConfigError(
                f"the settings line from the parent process is invalid ({type(exc).__name__}); "
                "start the job with --config instead"
            ) from None

    def summary(self, comments: bool = False) -> str:
        """The effective settings as TOML (what `stream-ae check-config` prints).

        >>> print(Settings().summary().splitlines()[1])
        length = 32
        """
        lines: list[str] = []
        for section_name in type(self).model_fields:
            section: BaseModel = getattr(self, section_name)
            lines.append(f"[{section_name}]")
            for key, field in type(section).model_fields.items():
                if comments and field.description:
                    lines += textwrap.wrap(
                        field.description, 88, initial_indent="# ", subsequent_indent="# "
                    )
                value = getattr(section, key)
                if value is None:
                    lines.append(f"# {key} is not set")
                elif isinstance(value, SecretStr):  # commented out: the mask is no password
                    lines.append(f"# {key} is set (hidden): {key} = {_toml_value(MASK)}")
                else:
                    lines.append(f"{key} = {_toml_value(value)}")
            lines.append("")
        return "\n".join(lines)


def config_path() -> Path | None:
    """The TOML file settings are read from: the explicit path, else `$STREAM_AE_CONFIG`."""
    explicit = _CONFIG_PATH.get()
    if explicit is not None:
        return explicit
    from_env = os.environ.get(CONFIG_ENV, "").strip()
    return Path(from_env) if from_env else None


def load_settings(path: Path | str | None = None) -> Settings:
    """Build the settings from defaults, `path` (or `$STREAM_AE_CONFIG`) and the environment.

    Raises ConfigError listing every problem, one per line, with the dotted key, what is
    allowed and where the value came from.
    """
    problems = [
        f"unknown environment variable {name}; its first part must name a section: "
        + ", ".join(Settings.model_fields)
        for name in sorted(os.environ)
        if _is_stray_env(name)
    ]
    settings: Settings | None = None
    token = _CONFIG_PATH.set(None if path is None else Path(path))
    try:
        file = config_path()
        settings = Settings()
    except ValidationError as exc:
        problems += [_describe(err, file) for err in exc.errors()]
    except SettingsError as exc:  # a value the environment source could not parse
        problems.append(f"{exc}; a section or list given in the environment must be JSON")
    finally:
        _CONFIG_PATH.reset(token)
    if settings is None or problems:
        where = f"{file} or the {ENV_PREFIX}* environment" if file else "the environment"
        raise ConfigError(
            f"The configuration is invalid ({len(problems)} problem(s)); fix these in {where}:\n"
            + "\n".join(f"  {p}" for p in problems)
        )
    return settings


def _is_stray_env(name: str) -> bool:
    # pydantic-settings ignores unknown prefixed variables; a misspelt section would
    # otherwise be dropped without a word.
    upper = name.upper()
    if not upper.startswith(ENV_PREFIX) or upper == CONFIG_ENV:
        return False
    return upper[len(ENV_PREFIX) :].split("__")[0].lower() not in Settings.model_fields


def _toml_source(settings_cls: type[BaseSettings], path: Path) -> TomlConfigSettingsSource:
    named_by = "" if _CONFIG_PATH.get() is not None else f" (named by {CONFIG_ENV})"
    # The source silently skips a missing file; a configured but absent file is a mistake.
    if not path.is_file():
        state = "is not a file" if path.exists() else "does not exist"
        raise ConfigError(
            f"The configuration file {path}{named_by} {state}; pass the path of a TOML file "
            "(see deploy/config/stream-ae.example.toml) or leave it out to use the defaults."
        )
    try:
        return TomlConfigSettingsSource(settings_cls, toml_file=path)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"The configuration file {path} is not valid TOML: {exc}.") from None
    except OSError as exc:
        raise ConfigError(f"The configuration file {path} cannot be read: {exc}.") from None


_PROBLEMS = {
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "literal_error": "must be {expected}",
    **dict.fromkeys(("int_parsing", "int_from_float", "int_type"), "must be a whole number"),
    **dict.fromkeys(("float_parsing", "float_type"), "must be a number"),
    **dict.fromkeys(("bool_parsing", "bool_type"), "must be true or false"),
    "string_type": "must be a string",
    "path_type": "must be a path",
    "model_type": "must be a table of keys (a [section] in TOML)",
}


RENAMED = {("kafka", "bootstrap"): "bootstrap_servers"}
"""Keys read under an old name: (section, old name) -> the name now."""


class _OldNames(PydanticBaseSettingsSource):
    """A source whose keys under an old name (`RENAMED`) are read under the new one, so
    an environment's old name still wins over a file's new one, as sources do."""

    def __init__(self, inner: PydanticBaseSettingsSource) -> None:
        super().__init__(inner.settings_cls)
        self.inner = inner

    def _set_current_state(self, state: dict[str, Any]) -> None:
        super()._set_current_state(state)
        self.inner._set_current_state(state)

    def _set_settings_sources_data(self, states: dict[str, dict[str, Any]]) -> None:
        super()._set_settings_sources_data(states)
        self.inner._set_settings_sources_data(states)

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return self.inner.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        data = self.inner()
        for (section, old), new in RENAMED.items():
            values = data.get(section)
            if isinstance(values, dict) and old in values and new in values:
                raise ConfigError(
                    f"{section}.{old} and {section}.{new} are both set in one place (the "
                    f"file, or the environment); {old} is the old name of {new}: keep one"
                )
            if isinstance(values, dict) and old in values:
                data[section] = {
                    (new if key == old else key): value for key, value in values.items()
                }
        return data


def _describe(err: ErrorDetails, file: Path | None) -> str:
    loc = tuple(str(part) for part in err["loc"])
    key = ".".join(loc) or "settings"
    if err["type"] == "extra_forbidden":
        allowed = ", ".join(_allowed_keys(loc[:-1]))
        text = f"unknown key '{key}'; allowed: {allowed}"
    else:
        template = _PROBLEMS.get(err["type"])
        if template is not None:
            ctx = {k: _plain(v) for k, v in err.get("ctx", {}).items()}
            problem = template.format(**ctx)
        else:  # value errors from our validators, and anything unforeseen
            message = err["msg"].removeprefix("Value error, ")
            problem = message[:1].lower() + message[1:]
        got = err.get("input")
        hidden = isinstance(got, dict | list) or _is_secret(loc)
        shown = "" if hidden else f" (got {got!r})"
        text = f"{key}: {problem}{shown}"
    origin = _origin(loc, file)
    return f"{text} [from {origin}]" if origin else text


def _is_secret(loc: tuple[str, ...]) -> bool:
    """Whether the key at `loc` holds a secret, whose value no message may show."""
    model: Any = Settings
    for part in loc:
        field = getattr(model, "model_fields", {}).get(part)
        if field is None:
            return False
        model = field.annotation
    return "SecretStr" in str(model)


def _allowed_keys(section: tuple[str, ...]) -> list[str]:
    model: Any = Settings
    for part in section:
        model = model.model_fields[part].annotation
    return list(model.model_fields)


def _origin(loc: tuple[str, ...], file: Path | None) -> str | None:
    """Where a value came from: the environment wins over the file, as in loading."""
    if not loc:
        return None
    env_name = ENV_PREFIX + "__".join(loc).upper()
    if any(name.upper() == env_name for name in os.environ):
        return f"env {env_name}"
    if file is None:
        return None
    try:
        node: Any = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return None
    for part in loc:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return str(file)


def _plain(value: object) -> object:
    """1.0 -> 1, so a bound reads as it was written."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _toml_value(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()  # a TOML offset date-time
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):  # an inline table
        return (
            "{" + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items()) + "}"
        )
    # JSON string escapes are a subset of TOML basic-string escapes.
    return json.dumps(str(value))
