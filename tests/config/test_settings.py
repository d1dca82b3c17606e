"""Settings: sources and their precedence, and errors a person can act on."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import pytest
from pydantic import ValidationError

from stream_ae.errors import ConfigError, StreamAEError
from stream_ae.settings import Settings, WindowSettings, load_settings

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "config" / "stream-ae.example.toml"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's own STREAM_AE_* variables must not leak into these tests."""
    for name in list(os.environ):
        if name.upper().startswith("STREAM_AE_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "stream-ae.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems(excinfo: pytest.ExceptionInfo[ConfigError]) -> str:
    return str(excinfo.value)


def test_defaults_load_without_file_or_env() -> None:
    settings = load_settings()
    assert settings == Settings()
    assert settings.window.length == 32
    assert settings.window.gap_policy == "reset"
    assert settings.model.artifact is None
    assert settings.model.artifact_dir == Path("models")
    assert settings.scoring.engine == "torchscript"
    assert settings.threshold.quantile == 0.995
    assert (settings.alerts.open_k, settings.alerts.open_n) == (3, 5)
    assert settings.cold_start.fit_mode == "auto"
    assert settings.files.batch_points == 1024


def test_toml_file_values(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[window]\nlength = 32\nhop = 4\n[model]\nartifact = "models/v3"\n'
        '[scoring]\ndevice = "cuda:1"\n',
    )
    settings = load_settings(path)
    assert settings.window.length == 32
    assert settings.window.hop == 4
    assert settings.window.max_series == 20_000  # untouched keys keep their default
    assert settings.model.artifact == Path("models/v3")
    assert settings.scoring.device == "cuda:1"


def test_file_named_by_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[threshold]\nwarmup = 50\n")
    monkeypatch.setenv("STREAM_AE_CONFIG", str(path))
    assert load_settings().threshold.warmup == 50


def test_env_overrides_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, "[threshold]\nquantile = 0.9\nwarmup = 50\n")
    monkeypatch.setenv("STREAM_AE_THRESHOLD__QUANTILE", "0.995")
    settings = load_settings(path)
    assert settings.threshold.quantile == 0.995
    assert settings.threshold.warmup == 50


def test_nested_env_without_file(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_AE_WINDOW__GAP_POLICY", "impute")
    monkeypatch.setenv("STREAM_AE_COLD_START__FIT_MODE", "wait")
    settings = load_settings()
    assert settings.window.gap_policy == "impute"
    assert settings.cold_start.fit_mode == "wait"


def test_unknown_key_is_named_with_allowed_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "[window]\nlenght = 32\n")
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path)
    message = problems(excinfo)
    assert "unknown key 'window.lenght'" in message
    assert "allowed: length, channels, hop, stagger, max_series" in message
    assert str(path) in message


def test_unknown_section_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "[windows]\nlength = 32\n")
    with pytest.raises(ConfigError, match="unknown key 'windows'; allowed: window, normalize"):
        load_settings(path)


def test_unknown_env_section_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_AE_WINDOWS__LENGTH", "32")
    with pytest.raises(ConfigError, match="STREAM_AE_WINDOWS__LENGTH"):
        load_settings()


def test_out_of_range_value_names_key_and_bound(tmp_path: Path) -> None:
    path = write(tmp_path, "[threshold]\nquantile = 1.5\n[window]\nlength = 0\n")
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path)
    message = problems(excinfo)
    assert "threshold.quantile: must be < 1 (got 1.5)" in message
    assert "window.length: must be >= 1 (got 0)" in message  # every problem, not the first
    assert "2 problem(s)" in message


def test_env_value_problem_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_AE_WINDOW__HOP", "often")
    with pytest.raises(ConfigError) as excinfo:
        load_settings()
    assert "window.hop: must be a whole number (got 'often')" in problems(excinfo)
    assert "env STREAM_AE_WINDOW__HOP" in problems(excinfo)


def test_bad_literal_lists_allowed_values(tmp_path: Path) -> None:
    path = write(tmp_path, '[window]\ngap_policy = "interpolate"\n[scoring]\nengine = "onnx"\n')
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path)
    message = problems(excinfo)
    assert "window.gap_policy: must be 'reset' or 'impute' (got 'interpolate')" in message
    assert "'eager', 'torchscript' or 'compile'" in message


def test_bad_device_says_what_is_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STREAM_AE_SCORING__DEVICE", "gpu")
    with pytest.raises(ConfigError, match=r"scoring\.device: must be 'auto', 'cpu', 'cuda'"):
        load_settings()


def test_open_k_above_open_n_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "[alerts]\nopen_k = 6\nopen_n = 5\n")
    with pytest.raises(ConfigError, match=r"open_k \(6\) must not exceed open_n \(5\)"):
        load_settings(path)


def test_open_n_is_bounded(tmp_path: Path) -> None:
    path = write(tmp_path, "[alerts]\nopen_n = 65\n")
    with pytest.raises(ConfigError, match=r"alerts\.open_n: must be <= 63"):
        load_settings(path)


def test_open_ratio_below_one_is_refused(tmp_path: Path) -> None:
    # Below 1 an incident could open on scores that do not even exceed the threshold.
    path = write(tmp_path, "[alerts]\nopen_ratio = 0.9\n")
    with pytest.raises(ConfigError, match=r"alerts\.open_ratio: must be >= 1"):
        load_settings(path)


def test_toml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "[window\nlength = 3\n")
    with pytest.raises(ConfigError) as excinfo:
        load_settings(path)
    assert str(path) in problems(excinfo)
    assert "not valid TOML" in problems(excinfo)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError, match=r"nowhere\.toml does not exist"):
        load_settings(path)


def test_missing_file_from_env_says_where_the_name_came_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STREAM_AE_CONFIG", str(tmp_path / "gone.toml"))
    with pytest.raises(ConfigError, match="named by STREAM_AE_CONFIG"):
        load_settings()


def test_config_error_is_not_retriable(tmp_path: Path) -> None:
    with pytest.raises(StreamAEError) as excinfo:
        load_settings(tmp_path / "nowhere.toml")
    assert excinfo.value.retriable is False


def test_settings_are_frozen() -> None:
    settings = load_settings()
    with pytest.raises(ValidationError):
        settings.window.length = 128
    with pytest.raises(ValidationError):
        settings.window = WindowSettings(length=128)


def test_summary_is_toml_that_loads_back(tmp_path: Path) -> None:
    path = write(tmp_path, '[window]\nlength = 32\n[model]\nartifact = "m/v1"\n')
    settings = load_settings(path)
    again = load_settings(write(tmp_path, settings.summary(), "again.toml"))
    assert again == settings


def test_summary_marks_unset_keys() -> None:
    assert "# artifact is not set" in Settings().summary()


def test_example_file_has_every_key_at_its_default() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    assert load_settings(EXAMPLE) == Settings()
    for section, fields in tomllib.loads(Settings().summary()).items():
        assert f"[{section}]" in text
        for key in fields:
            assert f"\n{key} = " in text, key
    assert '\n# artifact = "' in text  # the one key without a default is shown commented out


def test_open_n_matches_the_alert_policy_limit(tmp_path: Path) -> None:
    """The policy keeps the last open_n verdicts as bits of one word and takes 63 at most:
    64 must be refused here, with the reason, not by a bare ValueError at start."""
    from stream_ae.wiring import detector

    with pytest.raises(ConfigError, match=r"alerts\.open_n: must be <= 63"):
        load_settings(write(tmp_path, "[alerts]\nopen_n = 64\n"))
    settings = load_settings(write(tmp_path, "[alerts]\nopen_n = 63\n"))
    assert detector(settings, ("value",)).policy.open_n == 63


@pytest.mark.parametrize("text", ["temp,vibration", " temp , vibration ", '["temp", "vibration"]'])
def test_a_list_in_the_environment_takes_commas_or_json(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setenv("STREAM_AE_WINDOW__CHANNELS", text)
    monkeypatch.setenv("STREAM_AE_METRICS__SERIES", text)
    settings = load_settings()
    assert settings.window.channels == ("temp", "vibration")
    assert settings.metrics.series == ["temp", "vibration"]


def test_a_malformed_list_in_the_environment_is_a_sentence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("STREAM_AE_WINDOW__CHANNELS", '["temp", ')
    with pytest.raises(ConfigError, match=r"window\.channels: .*comma-separated"):
        load_settings()


def test_critical_ratio_below_major_ratio_is_refused(tmp_path: Path) -> None:
    # Critical is checked first: below major_ratio no incident could ever be major.
    path = write(tmp_path, "[alerts]\nmajor_ratio = 2.0\ncritical_ratio = 1.8\n")
    with pytest.raises(ConfigError, match=r"critical_ratio \(1.8\).*major_ratio \(2.0\)"):
        load_settings(path)


def test_a_fit_share_is_one_of_points_span_or_time_and_makes_windows(tmp_path: Path) -> None:
    until = load_settings(write(tmp_path, "[model]\nfit_until = 2026-11-22T00:00:00Z\n"))
    assert until.model.fit_until is not None and until.model.fit_until.timestamp() == 1795305600
    assert "fit_until = 2026-11-22T00:00:00+00:00" in until.summary()
    with pytest.raises(ConfigError, match="fit_points and fit_span_s are both set"):
        load_settings(write(tmp_path, "[model]\nfit_points = 500\nfit_span_s = 3600\n"))
    with pytest.raises(ConfigError, match=r"fit_points \(20\) is shorter than window.length"):
        load_settings(write(tmp_path, "[model]\nfit_points = 20\n"))
    with pytest.raises(ConfigError, match="fit_until"):
        load_settings(write(tmp_path, "[model]\nfit_until = 2026-11-22T00:00:00\n"))  # no zone
