"""The tutorials' dense autoencoder, kept as a baseline for the replay benchmarks.

Flattened windows in, flattened windows out, fitted full-batch with Adam on the
windows it is given; no early stopping and no scaler beyond what the caller does.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


class DenseAutoencoder(nn.Module):
    def __init__(self, width: int, hidden: int = 16, latent: int = 4) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, latent),
            nn.ReLU(),
            nn.Linear(latent, hidden),
            nn.ReLU(),
            nn.Linear(hidden, width),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


def fit_dense(windows: np.ndarray, epochs: int = 200, seed: int = 0) -> DenseAutoencoder:
    """Fit on `[N, width]` float windows; the caller's torch RNG state is kept."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = DenseAutoencoder(windows.shape[1])
        x = torch.as_tensor(windows, dtype=torch.float32)
        optimiser = torch.optim.Adam(model.parameters(), lr=1e-2)
        for _ in range(epochs):
            optimiser.zero_grad()
            loss = ((model(x) - x) ** 2).mean()
            loss.backward()
            optimiser.step()
    return model.eval()


def dense_errors(model: DenseAutoencoder, windows: np.ndarray) -> np.ndarray:
    """Mean squared reconstruction error per window."""
    with torch.no_grad():
        x = torch.as_tensor(windows, dtype=torch.float32)
        return ((model(x) - x) ** 2).mean(dim=1).double().numpy()
