"""The autoencoder keeps the window's shape, for any channels and window length."""

from __future__ import annotations

import warnings

import pytest
import torch

from stream_ae.model.autoencoder import LSTMAutoencoder


@pytest.mark.parametrize(
    ("channels", "layers", "shape"),
    [(1, 1, (4, 16, 1)), (3, 1, (2, 10, 3)), (2, 2, (5, 7, 2))],
)
def test_reconstruction_has_the_input_shape(
    channels: int, layers: int, shape: tuple[int, int, int]
) -> None:
    model = LSTMAutoencoder(channels, hidden=8, latent=4, layers=layers).eval()
    with torch.no_grad():
        out = model(torch.randn(shape))
    assert out.shape == shape
    assert out.dtype == torch.float32


def test_same_weights_serve_any_window_length() -> None:
    model = LSTMAutoencoder(2, hidden=8, latent=4).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 5, 2)).shape == (1, 5, 2)
        assert model(torch.randn(1, 40, 2)).shape == (1, 40, 2)


def test_output_depends_on_the_input_and_gradients_reach_every_weight() -> None:
    torch.manual_seed(0)
    model = LSTMAutoencoder(1, hidden=8, latent=4)
    a, b = torch.zeros(1, 12, 1), torch.linspace(-2, 2, 12).reshape(1, 12, 1)
    assert not torch.allclose(model(a), model(b))
    model(b).square().mean().backward()
    for name, param in model.named_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_hyperparameters_are_kept_as_attributes() -> None:
    model = LSTMAutoencoder(3, hidden=12, latent=6, layers=2)
    assert (model.channels, model.hidden, model.latent, model.layers) == (3, 12, 6, 2)


def test_scripted_module_matches_eager() -> None:
    model = LSTMAutoencoder(2, hidden=8, latent=4, layers=2).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = torch.jit.script(model)
    x = torch.randn(3, 9, 2)
    with torch.no_grad():
        torch.testing.assert_close(scripted(x), model(x), rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"channels": 0}, "channels"),
        ({"channels": 1, "hidden": -1}, "hidden"),
        ({"channels": 1, "latent": 2.5}, "latent"),
        ({"channels": 1, "layers": True}, "layers"),
        ({"channels": "1"}, "channels"),
    ],
)
def test_bad_arguments_are_refused_with_a_sentence(kwargs: dict[str, object], name: str) -> None:
    with pytest.raises(ValueError, match=rf"^{name} must be a positive integer"):
        LSTMAutoencoder(**kwargs)  # type: ignore[arg-type]
