"""The styled generator (refgan/gans/styled.py): shapes, state, the blurred RGB
skips, and gradients of first and second order through the whole network."""
import numpy as np

import refgan
from refgan.gans.styled import StyledGenerator
from refgan.gradcheck import check_backward, check_double_backward


def test_styled_generator_shapes_range_and_state(cpu_backend):
    refgan.manual_seed(0)
    G = StyledGenerator(8, 16, 4, mapping_layers=1)
    z = refgan.tensor(np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32))
    G.eval()
    x = G(z).numpy()
    assert x.shape == (3, 3, 16, 16) and np.abs(x).max() <= 1.0
    np.testing.assert_array_equal(G(z).numpy(), x)        # eval: a fixed z, a fixed image
    refgan.manual_seed(5)
    H = StyledGenerator(8, 16, 4, mapping_layers=1)
    H.load_state_dict(G.state_dict())
    H.eval()
    np.testing.assert_array_equal(H(z).numpy(), x)        # the state dict is the whole state


def test_styled_generator_gradients_first_and_second_order():
    """Through the whole network, noise held fixed (eval mode), float64."""
    refgan.manual_seed(0)
    G = StyledGenerator(4, 8, 2, mapping_layers=1).astype(np.float64).eval()
    z = np.random.default_rng(2).standard_normal((2, 4))
    check_backward(G, [z], params=G.parameters(), n_directions=3)
    check_double_backward(G, [z], n_directions=2)
