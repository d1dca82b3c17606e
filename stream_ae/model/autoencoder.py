"""The autoencoders that score windows by how badly they reconstruct them: an LSTM
for sequences, a dense one for records.

A window the model has seen the like of during training comes back close to
itself; an anomalous one does not, and the reconstruction error is the score.
"""

# No `from __future__ import annotations` here: TorchScript reads the class
# attribute annotations at runtime and cannot resolve them as strings.
import torch
from torch import nn

from stream_ae.model.manifest import is_positive_int


def _check_positive(name: str, value: object) -> int:
    if not is_positive_int(value):
        raise ValueError(f"{name} must be a positive integer, got {value!r}; pass e.g. {name}=16.")
    return value


class LSTMAutoencoder(nn.Module):
    """Sequence-to-sequence LSTM autoencoder over `[batch, window, channels]` windows.

    The encoder LSTM reads the window and its last hidden state is squeezed to a
    small latent vector; the decoder sees only that vector, repeated at every
    step, so it has to rebuild the window from a summary rather than copy it
    through. The window length is not baked in: the same weights score any
    length, and the artifact manifest records the length it was trained on.

    The module is plain TorchScript-compatible PyTorch; it never picks a device
    (callers move it), so the same weights serve CPU and GPU.

    >>> import torch
    >>> model = LSTMAutoencoder(channels=2, hidden=8, latent=4)
    >>> model(torch.zeros(3, 16, 2)).shape
    torch.Size([3, 16, 2])
    """

    channels: int
    hidden: int
    latent: int
    layers: int

    def __init__(self, channels: int, hidden: int = 32, latent: int = 16, layers: int = 1) -> None:
        super().__init__()
        self.channels = _check_positive("channels", channels)
        self.hidden = _check_positive("hidden", hidden)
        self.latent = _check_positive("latent", latent)
        self.layers = _check_positive("layers", layers)
        self.encoder = nn.LSTM(channels, hidden, num_layers=layers, batch_first=True)
        self.to_latent = nn.Linear(hidden, latent)
        self.decoder = nn.LSTM(latent, hidden, num_layers=layers, batch_first=True)
        self.head = nn.Linear(hidden, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct `x` (`[batch, window, channels]`); the result has the same shape."""
        _, (h_n, _) = self.encoder(x)
        # h_n is [layers, batch, hidden]: the top layer's last state summarises the window.
        z = self.to_latent(h_n[-1])
        # expand, not repeat: the decoder input needs no copy of the latent per step.
        steps = z.unsqueeze(1).expand(-1, x.size(1), -1)
        decoded, _ = self.decoder(steps)
        out: torch.Tensor = self.head(decoded)
        return out


class RecordAutoencoder(nn.Module):
    """Dense autoencoder over one window taken whole: a record of a few fields (window
    1), or a small image (its rows as steps, its columns as channels).

    The `window * channels` values pass through `layers` hidden layers of `hidden` units
    down to a `latent` code and back, ReLU between layers and a linear output, the
    shape of the plain autoencoders that judge records one by one. Unlike the LSTM it
    has no notion of order inside a window, and its width fixes the window length.
    Input and output are `[batch, window, channels]`, as for `LSTMAutoencoder`, so the
    scorer, the artifact and the decision layer take either.

    >>> import torch
    >>> model = RecordAutoencoder(channels=10, window=1, hidden=8, latent=4)
    >>> model(torch.zeros(3, 1, 10)).shape
    torch.Size([3, 1, 10])
    """

    channels: int
    window: int
    hidden: int
    latent: int
    layers: int

    def __init__(
        self, channels: int, window: int = 1, hidden: int = 32, latent: int = 8, layers: int = 1
    ) -> None:
        super().__init__()
        self.channels = _check_positive("channels", channels)
        self.window = _check_positive("window", window)
        self.hidden = _check_positive("hidden", hidden)
        self.latent = _check_positive("latent", latent)
        self.layers = _check_positive("layers", layers)
        width = window * channels
        self.encoder = _dense([width] + [hidden] * layers + [latent], end_with_relu=True)
        self.decoder = _dense([latent] + [hidden] * layers + [width], end_with_relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruct `x` (`[batch, window, channels]`); the result has the same shape."""
        flat = x.reshape(x.size(0), self.window * self.channels)
        out: torch.Tensor = self.decoder(self.encoder(flat))
        return out.reshape(x.size(0), self.window, self.channels)


def _dense(sizes: list[int], end_with_relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2 or end_with_relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


Autoencoder = LSTMAutoencoder | RecordAutoencoder
"""Either model kind: both map `[batch, window, channels]` onto itself."""
KINDS = ("lstm", "dense")
"""The model kinds, as settings and manifests name them."""


def kind_of(module: nn.Module) -> str:
    """'lstm' or 'dense'; ValueError for any other module."""
    if isinstance(module, LSTMAutoencoder):
        return "lstm"
    if isinstance(module, RecordAutoencoder):
        return "dense"
    raise ValueError(
        f"{type(module).__name__} is not a stream-ae autoencoder; build an LSTMAutoencoder "
        "or a RecordAutoencoder (TrainResult.module is one)."
    )


def build_autoencoder(
    kind: str, channels: int, window: int, hidden: int, latent: int, layers: int
) -> Autoencoder:
    """A fresh autoencoder of `kind` ('lstm' or 'dense') for windows of this shape."""
    if kind == "lstm":
        return LSTMAutoencoder(channels, hidden, latent, layers)
    if kind == "dense":
        return RecordAutoencoder(channels, window, hidden, latent, layers)
    raise ValueError(f"model kind {kind!r} is not one of {', '.join(KINDS)}.")


class ChunkedReconstruction(nn.Module):
    """The autoencoder over a whole batch, `max_batch` windows at a time, and the
    squared error of every value, in one call.

    One call, because the detector scores on a worker thread beside the event loop:
    scripted, the whole batch runs without the GIL, which the thread would otherwise
    wait to take back after every chunk while the loop runs Python (up to the
    interpreter's switch interval each time). Beside a loop busy 5 ms of every 7 a batch
    of 860 windows scored 2x as fast this way (`benchmarks/beside_the_loop.py`).

    >>> model = LSTMAutoencoder(channels=1, hidden=8, latent=4)
    >>> rebuilt, squared = ChunkedReconstruction(model, max_batch=2)(torch.zeros(5, 16, 1))
    >>> rebuilt.shape, squared.shape
    (torch.Size([5, 16, 1]), torch.Size([5, 16, 1]))
    """

    max_batch: int

    def __init__(self, module: nn.Module, max_batch: int) -> None:
        super().__init__()
        self.module = module
        self.max_batch = max_batch

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.size(0) == 0:
            return x.clone(), x.clone()
        parts: list[torch.Tensor] = []
        for start in range(0, x.size(0), self.max_batch):
            parts.append(self.module(x[start : start + self.max_batch]))
        rebuilt = parts[0] if len(parts) == 1 else torch.cat(parts)
        return rebuilt, (rebuilt - x).square()
