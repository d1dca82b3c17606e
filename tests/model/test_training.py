"""fit learns, is reproducible, stops early, keeps the best weights and refuses bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from stream_ae.model import training
from stream_ae.model.training import TrainConfig, fit

SMALL = TrainConfig(hidden=16, latent=8, epochs=15, batch_size=16, learning_rate=1e-2)


def sine_windows(n: int, window: int, seed: int = 0) -> np.ndarray:
    """Noisy sine waves of random phase, [n, window, 1] float32."""
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, n)[:, None]
    steps = np.arange(window)[None, :]
    wave = np.sin(2 * np.pi * steps / 8 + phase) + 0.05 * rng.standard_normal((n, window))
    return wave.astype(np.float32)[..., None]


def test_loss_decreases_on_sine_waves() -> None:
    result = fit(sine_windows(96, 16), SMALL, progress=False)
    first_train, first_val = result.history[0]
    assert result.train_loss < 0.9 * first_train
    assert result.val_loss < 0.9 * first_val
    assert result.val_loss == min(val for _, val in result.history)
    assert result.n_windows == 96
    assert result.epochs_run == len(result.history)
    assert not result.module.training


def test_same_input_and_config_give_identical_weights() -> None:
    data = sine_windows(48, 12)
    config = TrainConfig(hidden=8, latent=4, epochs=3, batch_size=16)
    first, second = fit(data, config, progress=False), fit(data, config, progress=False)
    assert first.history == second.history
    for name, tensor in first.module.state_dict().items():
        assert torch.equal(tensor, second.module.state_dict()[name]), name
    other = fit(data, TrainConfig(hidden=8, latent=4, epochs=3, batch_size=16, seed=1), False)
    assert not torch.equal(
        first.module.state_dict()["head.weight"], other.module.state_dict()["head.weight"]
    )


def test_fit_leaves_the_callers_rng_and_thread_count_alone() -> None:
    threads = torch.get_num_threads()
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    fit(sine_windows(16, 8), TrainConfig(hidden=4, latent=2, epochs=1, threads=1), False)
    assert torch.equal(torch.rand(3), expected)
    assert torch.get_num_threads() == threads


def test_early_stopping_stops_when_validation_stalls_and_restores_the_best_weights(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Validation improves for two epochs, then gets worse: with patience 3 the
    # fit must stop after epoch 5 and hand back the weights of epoch 2.
    val_losses = iter([1.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0])
    seen: list[dict[str, torch.Tensor]] = []

    def scripted_evaluate(self: training._Loop, x: torch.Tensor) -> float:
        seen.append({k: v.clone() for k, v in self.model.state_dict().items()})
        return next(val_losses)

    monkeypatch.setattr(training._Loop, "evaluate", scripted_evaluate)
    config = TrainConfig(hidden=4, latent=2, epochs=20, batch_size=8, patience=3)
    result = fit(sine_windows(32, 8), config, progress=False)
    assert result.epochs_run == 5
    assert result.best_epoch == 2
    assert result.val_loss == 0.5
    assert [val for _, val in result.history] == [1.0, 0.5, 0.6, 0.7, 0.8]
    for name, tensor in result.module.state_dict().items():
        assert torch.equal(tensor, seen[1][name]), name
    assert not torch.equal(seen[1]["head.weight"], seen[4]["head.weight"])


def test_early_stopping_on_unlearnable_noise_ends_before_the_epoch_limit() -> None:
    noise = np.random.default_rng(1).standard_normal((64, 8, 1)).astype(np.float32)
    config = TrainConfig(
        hidden=8, latent=4, epochs=60, batch_size=16, learning_rate=1e-2, patience=2
    )
    result = fit(noise, config, progress=False)
    assert result.epochs_run < config.epochs
    assert result.epochs_run == result.best_epoch + config.patience


def test_more_windows_than_max_windows_are_subsampled() -> None:
    config = TrainConfig(hidden=4, latent=2, epochs=1, max_windows=10)
    assert fit(sine_windows(40, 8), config, progress=False).n_windows == 10


def test_multichannel_windows_fit() -> None:
    data = np.concatenate([sine_windows(24, 8), sine_windows(24, 8, seed=2)], axis=2)
    result = fit(data, TrainConfig(hidden=4, latent=2, epochs=1), progress=False)
    assert result.module.channels == 2


def test_progress_bar_only_when_asked(capsys: pytest.CaptureFixture[str]) -> None:
    config = TrainConfig(hidden=4, latent=2, epochs=2)
    fit(sine_windows(16, 8), config, progress=False)
    assert capsys.readouterr().err == ""
    fit(sine_windows(16, 8), config, progress=True)
    assert "epoch" in capsys.readouterr().err
    fit(sine_windows(16, 8), config)  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("windows", "message"),
    [
        (np.zeros((20, 8), dtype=np.float32), "shape \\[n_windows, window, channels\\]"),
        (np.zeros((5, 8, 1), dtype=np.float32), "at least 8 windows"),
        (np.zeros((20, 0, 1), dtype=np.float32), "at least one step"),
        ([[[0.0]]] * 20, "numpy array"),
    ],
)
def test_bad_windows_are_refused(windows: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fit(windows, TrainConfig(epochs=1), progress=False)


def test_non_finite_windows_are_refused() -> None:
    data = sine_windows(20, 8)
    data[3, 2, 0] = np.nan
    data[7, 0, 0] = np.inf
    with pytest.raises(ValueError, match="2 of 20 windows contain NaN or infinite"):
        fit(data, TrainConfig(epochs=1), progress=False)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"epochs": 0},
        {"hidden": 0},
        {"val_fraction": 1.0},
        {"val_fraction": 0.0},
        {"learning_rate": -1.0},
        {"learning_rate": float("nan")},
        {"max_windows": 4},
        {"threads": 0},
    ],
)
def test_bad_config_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="TrainConfig"):
        TrainConfig(**kwargs)  # type: ignore[arg-type]


def test_a_diverging_fit_is_stopped_with_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training._Loop, "train_epoch", lambda self, x: float("nan"))
    with pytest.raises(ValueError, match=r"diverged.*lower TrainConfig\.learning_rate"):
        fit(sine_windows(16, 8), TrainConfig(hidden=4, latent=2, epochs=3), progress=False)


def test_asking_for_a_missing_gpu_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="CUDA is not available"):
        fit(sine_windows(16, 8), TrainConfig(epochs=1), progress=False, device="cuda")


@pytest.mark.parametrize(
    ("channels", "latent", "expected"), [(1, None, 4), (2, None, 4), (6, None, 6), (2, 7, 7)]
)
def test_the_bottleneck_follows_the_channels_unless_set(
    channels: int, latent: int | None, expected: int
) -> None:
    rng = np.random.default_rng(0)
    windows = rng.standard_normal((40, 8, channels)).astype(np.float32)
    config = TrainConfig(hidden=8, latent=latent, epochs=1, batch_size=16)
    assert fit(windows, config).module.latent == expected
