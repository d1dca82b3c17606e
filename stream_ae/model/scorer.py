"""Batched autoencoder inference: windows in, reconstruction errors out.

The scorer is the model's only face to the detector. It implements the
`Scorer` protocol of `stream_ae.core.scoring`, so the detector never sees
torch: numpy arrays go in, a `ScoreBatch` comes out.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from collections.abc import Callable
from typing import Literal, cast, get_args

import numpy as np
import torch

from stream_ae.core.channels import ErrorScales, combine
from stream_ae.core.records import ScoreBatch
from stream_ae.model._jit import quiet_jit
from stream_ae.model.artifact import (
    MANIFEST_FILE,
    ArtifactError,
    LoadedArtifact,
    eager_from_artifact,
)
from stream_ae.model.autoencoder import (  # noqa: F401  (LSTMAutoencoder: doctest)
    Autoencoder,
    ChunkedReconstruction,
    LSTMAutoencoder,
    kind_of,
)
from stream_ae.model.manifest import is_positive_int

logger = logging.getLogger(__name__)

Engine = Literal["eager", "torchscript", "compile"]
ENGINES: tuple[Engine, ...] = get_args(Engine)

DEFAULT_ENGINE: Engine = "torchscript"
"""Fastest on CPU by `benchmarks/inference_paths.py` on these machines: TorchScript
beat eager in every cell (about +20-30% for single windows, where Python call
overhead dominates, and a few percent at batch 64-1024); torch.compile cannot
capture nn.LSTM and only adds overhead to eager."""

_CUDA_SPEC = re.compile(r"cuda(?::(\d+))?")
_THREAD = threading.local()
"""`threads`: the torch thread count this thread last set."""

Forward = Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]
"""Windows in; their reconstruction and its squared error out."""


def resolve_device(spec: str) -> torch.device:
    """Turn 'auto', 'cpu', 'cuda' or 'cuda:N' into a device that exists here.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if spec == "cpu":
        return torch.device("cpu")
    match = _CUDA_SPEC.fullmatch(spec) if isinstance(spec, str) else None
    if match is None:
        raise ValueError(
            f"device {spec!r} is not understood; use 'auto', 'cpu', 'cuda' or 'cuda:N'."
        )
    if not torch.cuda.is_available():
        raise ValueError(
            f"device {spec!r} was asked for but CUDA is not available on this machine "
            f"(torch {torch.__version__}); use device='auto' or 'cpu', or install a CUDA "
            "build of torch on a machine with a GPU."
        )
    index = int(match.group(1) or 0)
    if index >= torch.cuda.device_count():
        raise ValueError(
            f"device {spec!r} was asked for but this machine has {torch.cuda.device_count()} "
            "CUDA device(s); pick one of cuda:0 .. cuda:N-1."
        )
    return torch.device("cuda", index)


class AutoencoderScorer:
    """Scores windows by the autoencoder's squared reconstruction error, channel by channel.

    Windows are scored in chunks of at most `max_batch` (256 was about the
    fastest on CPU; 1024 was slower for 64-step windows). Each channel's mean
    squared error over the window is divided by that channel's error scale
    (measured on the fit windows; 1 for models published without one) and the
    channels are combined as `stream_ae.core.channels` chose, so one broken
    channel is not averaged away by many quiet ones. For one channel the score
    is the window's mean squared error over a constant. The per-channel errors
    and the reconstruction come back too, so an alert can say which channel,
    and which steps, drove it.

    `threads` sets torch's intra-op threads for the whole process, once, here:
    one thread beat two in every case measured on the 2-core machines.

    >>> scorer = AutoencoderScorer(
    ...     LSTMAutoencoder(channels=1, hidden=8, latent=4), version="demo", window=16,
    ...     channels=1, device="cpu")
    >>> scorer.score(np.zeros((3, 16, 1), dtype=np.float32)).scores.shape
    (3,)
    """

    name: str = "lstm-ae"

    def __init__(
        self,
        module: Autoencoder,
        version: str,
        window: int,
        channels: int,
        *,
        device: str | torch.device = "auto",
        max_batch: int = 256,
        engine: Engine = DEFAULT_ENGINE,
        threads: int = 1,
        error_scales: ErrorScales | None = None,
    ) -> None:
        """Score with a freshly fitted module; `from_artifact` serves a published one.
        Without `error_scales` every channel's scale is 1."""
        self.name = f"{kind_of(module)}-ae"
        if getattr(module, "window", window) != window:
            raise ValueError(
                f"window={window!r} but the dense module was built for windows of "
                f"{getattr(module, 'window', window)} steps; pass the window it was trained on."
            )
        for name, value in (("window", window), ("max_batch", max_batch), ("threads", threads)):
            if not is_positive_int(value):
                raise ValueError(f"{name} must be a positive integer, got {value!r}.")
        if channels != module.channels:
            raise ValueError(
                f"channels={channels!r} but the module was built for {module.channels} "
                "channels; pass the channel count the model was trained on."
            )
        if engine not in ENGINES:
            raise ValueError(f"engine {engine!r} is not one of {', '.join(ENGINES)}.")
        self.version = version
        self.window = window
        self.channels = channels
        self.max_batch = max_batch
        self.torch_device = resolve_device(device) if isinstance(device, str) else device
        self.device = str(self.torch_device)
        self.threads = threads
        if error_scales is None:
            error_scales = ErrorScales.unit(channels)
        if error_scales.scale.shape != (channels,):
            raise ValueError(
                f"error_scales has {error_scales.scale.shape} scales for {channels} "
                "channel(s); measure them on this model's fit windows."
            )
        self.error_scales = error_scales
        self.engine: Engine = engine
        """The engine actually running: 'compile' becomes 'eager' when compiling fails."""
        self._forward = self._prepare(module)

    @classmethod
    def from_artifact(
        cls,
        loaded: LoadedArtifact,
        *,
        device: str | torch.device = "auto",
        max_batch: int = 256,
        engine: Engine = DEFAULT_ENGINE,
        threads: int = 1,
    ) -> AutoencoderScorer:
        """Score with a published, verified artifact (see `load_artifact`)."""
        m = loaded.manifest
        try:
            scales = ErrorScales.from_manifest(m.error_scale, m.channel_names)
        except ValueError as exc:
            raise ArtifactError(f"{loaded.path / MANIFEST_FILE}: {exc}") from exc
        return cls(
            eager_from_artifact(loaded),
            version=m.model_version,
            window=m.window,
            channels=m.channels,
            device=device,
            max_batch=max_batch,
            engine=engine,
            threads=threads,
            error_scales=scales,
        )

    def score(self, windows: np.ndarray) -> ScoreBatch:
        """Score `[batch, window, channels]` normalised windows (cast to float32)."""
        x = self._checked(windows)
        _use_threads(self.threads)
        with torch.inference_mode():
            rebuilt, squared = self._forward(torch.from_numpy(x).to(self.torch_device))
            expected, errors = rebuilt.cpu().numpy(), squared.cpu().numpy()
        # float64 accumulation: the per-window mean of many small float32 terms.
        scales = self.error_scales
        raw = errors.mean(axis=1, dtype=np.float64)
        per_channel = scales.apply(raw)
        errors /= scales.scale.astype(np.float32)
        return ScoreBatch(
            scores=combine(per_channel, scales.combine),
            errors=errors,
            expected=expected,
            channel_errors=per_channel,
            mse=raw.mean(axis=1),
        )

    def __repr__(self) -> str:
        return (
            f"AutoencoderScorer(version={self.version!r}, window={self.window}, "
            f"channels={self.channels}, device={self.device}, engine={self.engine!r}, "
            f"max_batch={self.max_batch})"
        )

    def _checked(self, windows: np.ndarray) -> np.ndarray:
        expected_shape = (self.window, self.channels)
        if not isinstance(windows, np.ndarray) or windows.ndim != 3:
            shape = getattr(windows, "shape", type(windows).__name__)
            raise ValueError(
                f"windows must be a numpy array of shape [batch, {self.window}, "
                f"{self.channels}], got {shape}."
            )
        if windows.shape[1:] != expected_shape:
            raise ValueError(
                f"windows have shape {windows.shape} but model {self.version!r} scores "
                f"[batch, {self.window}, {self.channels}]; the detector's window and channel "
                "settings must match the model's manifest."
            )
        x = np.ascontiguousarray(windows, dtype=np.float32)
        finite = np.isfinite(x).all(axis=(1, 2))
        if not finite.all():
            rows = np.flatnonzero(~finite)[:5].tolist()
            raise ValueError(
                f"{int((~finite).sum())} window(s) contain NaN or infinite values (rows "
                f"{rows}...); reject non-finite points and check the scaler before scoring."
            )
        return x

    def _prepare(self, module: Autoencoder) -> Forward:
        # A copy: the caller's module keeps its device and train/eval mode.
        eager = copy.deepcopy(module).to(self.torch_device).eval()
        if self.engine == "torchscript":
            # Scripted from the device-placed copy: same code and weights as the
            # artifact's module, and moving a loaded ScriptModule with .to() warns.
            with quiet_jit():
                forward: Forward = torch.jit.script(ChunkedReconstruction(eager, self.max_batch))
        elif self.engine == "compile":
            forward = self._compiled(eager)
        else:
            forward = ChunkedReconstruction(eager, self.max_batch)
        self._warm_up(forward)
        return forward

    def _compiled(self, eager: Autoencoder) -> Forward:
        # fullgraph=True: a partial capture would quietly run eager with compile's
        # overhead on top; we would rather know, fall back once, and say so.
        # compile of a module gives a module (typed as a callable)
        inner = cast(torch.nn.Module, torch.compile(eager, fullgraph=True, dynamic=True))
        compiled = ChunkedReconstruction(inner, self.max_batch)
        try:
            self._warm_up(compiled)
        except Exception as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            logger.warning(
                "torch.compile cannot compile the autoencoder (%s); scoring with the "
                "eager module instead. Use engine='eager' to skip this attempt.",
                detail,
            )
            self.engine = "eager"
            return ChunkedReconstruction(eager, self.max_batch)
        return compiled

    def _warm_up(self, forward: Forward) -> None:
        # The first calls are slow (TorchScript profiles, compile compiles, CUDA
        # initialises); pay that here rather than on the first live batch.
        with torch.inference_mode():
            for batch in (1, 1, min(self.max_batch, 8)):
                forward(torch.zeros(batch, self.window, self.channels, device=self.torch_device))


def _use_threads(threads: int) -> None:
    # The thread count binds the calling thread only (OpenMP's setting is per thread),
    # and a detector scores on a worker thread: there the default (every core) made a
    # forward of a few windows 40x slower (12 ms against 0.3 ms on 2 cores).
    if getattr(_THREAD, "threads", None) != threads:
        torch.set_num_threads(threads)
        _THREAD.threads = threads
