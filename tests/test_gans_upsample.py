"""``--upsample bilinear``: the upsample and fastgan generators double their features by
bilinear interpolation (refgan.ops.upsample_bilinear) instead of nearest neighbours."""
import numpy as np
import pytest

import refgan
from refgan import nn
from refgan.errors import UserError
from refgan.gans.architectures import Generator
from refgan.gans.fastgan import FastGANGenerator
from refgan.gans.styled import make_generator
from refgan.gradcheck import check_backward
from refgan.training import presets


def modes(net):
    return [m.mode for m in net.modules() if isinstance(m, nn.Upsample)]


@pytest.mark.parametrize("design,cls", [("upsample", Generator), ("fastgan", FastGANGenerator)])
def test_the_option_reaches_every_upsampling_of_the_generator(design, cls):
    c = presets.resolve("wgan-gp", "smoke", size=32, generator=design, upsample="bilinear")
    G = make_generator(c, c.latent_dim)
    assert isinstance(G, cls) and modes(G) == ["bilinear"] * 3
    plain = make_generator(presets.resolve("wgan-gp", "smoke", size=32, generator=design), 8)
    assert modes(plain) == ["nearest"] * 3


def test_bilinear_generator_draws_smooth_images_and_its_gradients_check(rng):
    refgan.manual_seed(0)
    G = Generator(4, 16, 2, upsample="bilinear").astype(np.float64).eval()
    z = rng.standard_normal((2, 4))
    assert G(refgan.tensor(z)).shape == (2, 3, 16, 16)
    check_backward(lambda t: G(t), [z], params=G.parameters())


def test_upsample_layer_refuses_what_it_does_not_implement():
    with pytest.raises(ValueError, match="mode must be 'nearest' or 'bilinear'"):
        nn.Upsample(2, mode="bicubic")
    with pytest.raises(ValueError, match="factor of 2"):
        nn.Upsample(3, mode="bilinear")


@pytest.mark.parametrize("kw,message", [
    (dict(model="dcgan", upsample="bilinear"), "dcgan does not use --upsample"),
    (dict(generator="styled", upsample="bilinear"), "--upsample applies to the upsample, stain, fastgan and discs"),
    (dict(size=32, progressive=5, upsample="bilinear"), "--progressive grows the nearest-neighbour"),
    (dict(upsample="bicubic"), "--upsample must be nearest or bilinear"),
])
def test_bad_upsample_options_are_refused_by_name(kw, message):
    model = kw.pop("model", "wgan-gp")
    with pytest.raises(UserError, match=message):
        presets.resolve(model, "smoke", strict=True, **kw).validate()
