"""The LSTM autoencoder that scores windows by how badly it reconstructs them.

A window the model has seen the like of during training comes back close to
itself; an anomalous one does not, and the reconstruction error is the score.
"""

# No `from __future__ import annotations` here: TorchScript reads the class
# attribute annotations at runtime and cannot resolve them as strings.
import torch
from torch import nn


def _check_positive(name: str, value: object) -> int:
    # bool is an int subclass: `hidden=True` is a mistake, not the number 1.
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
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
