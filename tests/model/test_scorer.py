"""The autoencoder scorer: exact scores, chunking, engines, devices and refusals."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from stream_ae.core.channels import ErrorScales
from stream_ae.core.scoring import Scorer
from stream_ae.model.artifact import load_artifact, write_artifact
from stream_ae.model.autoencoder import ChunkedReconstruction, LSTMAutoencoder
from stream_ae.model.scorer import DEFAULT_ENGINE, ENGINES, AutoencoderScorer, resolve_device
from stream_ae.model.training import TrainConfig, fit

WINDOW = 16


@pytest.fixture
def module() -> LSTMAutoencoder:
    torch.manual_seed(0)
    return LSTMAutoencoder(2, hidden=8, latent=4).eval()


def scorer_for(module: LSTMAutoencoder, **kwargs: object) -> AutoencoderScorer:
    options: dict[str, object] = {"device": "cpu", **kwargs}
    return AutoencoderScorer(module, "v-test", WINDOW, module.channels, **options)  # type: ignore[arg-type]


def random_windows(batch: int, channels: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.standard_normal((batch, WINDOW, channels)).astype(np.float32)


def sine_windows(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    phase = rng.uniform(0, 2 * np.pi, n)[:, None]
    wave = np.sin(2 * np.pi * np.arange(WINDOW)[None, :] / 8 + phase)
    return (wave + 0.05 * rng.standard_normal((n, WINDOW))).astype(np.float32)[..., None]


def test_scores_are_the_per_window_mean_squared_error(module: LSTMAutoencoder) -> None:
    x = random_windows(7)
    result = scorer_for(module, error_scales=ErrorScales.unit(2, "mean")).score(x)
    with torch.no_grad():
        rebuilt = module(torch.from_numpy(x)).numpy()
    by_hand = ((rebuilt.astype(np.float64) - x) ** 2).mean(axis=(1, 2))
    assert result.scores.dtype == np.float64 and result.scores.shape == (7,)
    np.testing.assert_allclose(result.scores, by_hand, rtol=1e-5)
    per_channel = ((rebuilt.astype(np.float64) - x) ** 2).mean(axis=1)
    assert result.channel_errors is not None
    np.testing.assert_allclose(result.channel_errors, per_channel, rtol=1e-5)
    default = scorer_for(module).score(x).scores
    np.testing.assert_allclose(default, per_channel.max(axis=1), rtol=1e-5)
    assert result.expected is not None and result.errors is not None
    assert result.expected.dtype == result.errors.dtype == np.float32
    np.testing.assert_allclose(result.expected, rebuilt, atol=1e-6)
    np.testing.assert_allclose(result.errors, (rebuilt - x) ** 2, atol=1e-6)


def test_chunked_scoring_equals_unchunked(module: LSTMAutoencoder) -> None:
    x = random_windows(10)
    whole = scorer_for(module, max_batch=256).score(x)
    chunked = scorer_for(module, max_batch=3).score(x)
    np.testing.assert_allclose(chunked.scores, whole.scores, rtol=1e-5, atol=1e-7)
    assert chunked.errors is not None and whole.errors is not None
    np.testing.assert_allclose(chunked.errors, whole.errors, atol=1e-6)


@pytest.mark.parametrize("scripted", [False, True])
@pytest.mark.parametrize("batch", [1, 4, 5, 13])
def test_one_call_rebuilds_each_chunk_exactly_as_the_module_alone(
    module: LSTMAutoencoder, scripted: bool, batch: int
) -> None:
    x = torch.from_numpy(random_windows(batch))
    chunked = ChunkedReconstruction(module, max_batch=4)
    forward = torch.jit.script(chunked) if scripted else chunked
    with torch.inference_mode():
        rebuilt, squared = forward(x)
        alone = torch.cat([module(x[i : i + 4]) for i in range(0, batch, 4)])
    assert torch.equal(rebuilt, alone)
    assert torch.equal(squared, (alone - x).square())


@pytest.mark.parametrize("scripted", [False, True])
def test_no_windows_rebuild_as_no_windows(module: LSTMAutoencoder, scripted: bool) -> None:
    chunked = ChunkedReconstruction(module, max_batch=4)
    forward = torch.jit.script(chunked) if scripted else chunked
    rebuilt, squared = forward(torch.zeros(0, WINDOW, 2))
    assert rebuilt.shape == squared.shape == (0, WINDOW, 2)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_batch_of_many_chunks_is_one_call_to_the_model(
    module: LSTMAutoencoder, engine: str
) -> None:
    # One call per batch: scripted, it runs without the GIL from the first chunk to the
    # last, instead of waiting for it after each chunk while the event loop runs Python.
    scorer = scorer_for(module, max_batch=3, engine=engine)
    calls: list[int] = []
    inner = scorer._forward

    def counted(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        calls.append(len(x))
        return inner(x)

    scorer._forward = counted
    scored = scorer.score(random_windows(10))
    assert calls == [10]
    assert scored.scores.shape == (10,)


def test_a_spike_scores_higher_than_normal_windows_after_a_short_fit() -> None:
    config = TrainConfig(hidden=16, latent=8, epochs=8, batch_size=16, learning_rate=1e-2)
    model = fit(sine_windows(96), config, progress=False).module
    normal = sine_windows(20, seed=7)
    spiked = normal[:1].copy()
    spiked[0, WINDOW // 2, 0] += 5.0
    scorer = AutoencoderScorer(model, "fresh", WINDOW, 1, device="cpu")
    scores = scorer.score(np.concatenate([normal, spiked])).scores
    assert scores[-1] > scores[:-1].max()
    errors = scorer.score(spiked).errors
    assert errors is not None and int(errors[0, :, 0].argmax()) == WINDOW // 2


def test_wrong_shapes_are_refused(module: LSTMAutoencoder) -> None:
    scorer = scorer_for(module)
    with pytest.raises(ValueError, match=r"shape \(3, 8, 2\).*\[batch, 16, 2\]"):
        scorer.score(np.zeros((3, 8, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"shape \(3, 16, 1\).*\[batch, 16, 2\]"):
        scorer.score(np.zeros((3, WINDOW, 1), dtype=np.float32))
    with pytest.raises(ValueError, match=r"numpy array of shape \[batch, 16, 2\]"):
        scorer.score(np.zeros((WINDOW, 2), dtype=np.float32))


def test_non_finite_windows_are_refused(module: LSTMAutoencoder) -> None:
    x = random_windows(4)
    x[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match=r"1 window\(s\) contain NaN.*rows \[2\]"):
        scorer_for(module).score(x)


def test_empty_batch_gives_empty_arrays(module: LSTMAutoencoder) -> None:
    result = scorer_for(module).score(np.zeros((0, WINDOW, 2), dtype=np.float32))
    assert result.scores.shape == (0,) and result.scores.dtype == np.float64
    assert result.errors is not None and result.errors.shape == (0, WINDOW, 2)
    assert result.expected is not None and result.expected.shape == (0, WINDOW, 2)


def test_float64_input_is_scored_as_float32(module: LSTMAutoencoder) -> None:
    x = random_windows(3)
    scorer = scorer_for(module)
    np.testing.assert_array_equal(scorer.score(x.astype(np.float64)).scores, scorer.score(x).scores)


def test_engines_agree(
    module: LSTMAutoencoder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_artifact(module, root=tmp_path, window=WINDOW, channel_names=("a", "b"), scaler={})
    loaded = load_artifact(path)
    x = random_windows(9)
    reference = scorer_for(module, engine="eager").score(x).scores
    for engine in ENGINES:
        with caplog.at_level(logging.WARNING, logger="stream_ae.model.scorer"):
            caplog.clear()
            fresh = scorer_for(module, engine=engine)
            published = AutoencoderScorer.from_artifact(loaded, device="cpu", engine=engine)
        np.testing.assert_allclose(fresh.score(x).scores, reference, rtol=1e-5)
        np.testing.assert_allclose(published.score(x).scores, reference, rtol=1e-5)
        assert published.version == path.name
        if engine == "compile" and fresh.engine == "eager":
            # torch.compile cannot capture nn.LSTM: one warning per scorer, then eager.
            warnings = [r for r in caplog.records if "torch.compile" in r.getMessage()]
            assert len(warnings) == 2
        else:
            assert fresh.engine == engine
            assert caplog.records == []


def test_scorer_implements_the_protocol(module: LSTMAutoencoder) -> None:
    scorer = scorer_for(module, threads=1)
    assert isinstance(scorer, Scorer)
    assert (scorer.name, scorer.version, scorer.window, scorer.channels) == (
        "lstm-ae",
        "v-test",
        WINDOW,
        2,
    )
    assert scorer.device == "cpu" and scorer.torch_device == torch.device("cpu")
    assert scorer.engine == DEFAULT_ENGINE
    scorer.score(random_windows(1))  # the thread count is set by the thread that scores
    assert torch.get_num_threads() == 1


def test_every_thread_that_scores_sets_the_thread_count_once(
    module: LSTMAutoencoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # torch's thread count binds only the thread that sets it, and the service scores on
    # a worker thread: unset there, a forward of a few windows ran 40x slower.
    calls: list[tuple[str, int]] = []
    real = torch.set_num_threads

    def record(n: int) -> None:
        calls.append((threading.current_thread().name, n))
        real(n)

    monkeypatch.setattr(torch, "set_num_threads", record)
    scorer = scorer_for(module, threads=1)
    with ThreadPoolExecutor(1, thread_name_prefix="scoring") as pool:
        for _ in range(3):
            pool.submit(scorer.score, random_windows(4)).result()
    worker = [n for name, n in calls if name.startswith("scoring")]
    assert worker == [1]


def test_the_callers_module_is_left_untouched(module: LSTMAutoencoder) -> None:
    module.train()
    scorer_for(module, engine="torchscript")
    assert module.training
    assert next(module.parameters()).device == torch.device("cpu")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_batch": 0}, "max_batch must be a positive integer"),
        ({"threads": 0}, "threads must be a positive integer"),
        ({"engine": "onnx"}, "engine 'onnx' is not one of eager, torchscript, compile"),
        ({"device": "gpu"}, "device 'gpu' is not understood"),
    ],
)
def test_bad_options_are_refused(
    module: LSTMAutoencoder, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        scorer_for(module, **kwargs)


def test_channels_must_match_the_module(module: LSTMAutoencoder) -> None:
    with pytest.raises(ValueError, match="built for 2 channels"):
        AutoencoderScorer(module, "v", WINDOW, 3, device="cpu")


def test_resolve_device() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


def test_asking_for_cuda_without_it_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    for spec in ("cuda", "cuda:1"):
        with pytest.raises(ValueError, match="CUDA is not available on this machine"):
            resolve_device(spec)


def test_one_channel_ranks_windows_exactly_as_its_mean_squared_error() -> None:
    torch.manual_seed(1)
    one = LSTMAutoencoder(1, hidden=8, latent=4).eval()
    x = sine_windows(200, seed=2)
    x[50:60] += 0.8
    plain = scorer_for(one, error_scales=ErrorScales.unit(1, "mean")).score(x).scores
    fitted = ErrorScales.fit(scorer_for(one).score(sine_windows(300, seed=3)).channel_errors)
    for how in ("mean", "max", "top3", "power4"):
        scales = replace(fitted, combine=how)
        scores = scorer_for(one, error_scales=scales).score(x).scores
        assert (
            np.argsort(scores, kind="stable").tolist() == np.argsort(plain, kind="stable").tolist()
        )
        np.testing.assert_allclose(scores * fitted.scale[0], plain, rtol=1e-6)


def test_error_scales_for_another_channel_count_are_refused(module: LSTMAutoencoder) -> None:
    with pytest.raises(ValueError, match="error_scales has"):
        scorer_for(module, error_scales=ErrorScales.unit(3))
