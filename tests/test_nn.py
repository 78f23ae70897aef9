"""Modules: PyTorch names and layouts, modes, state dicts, initialisers."""
import numpy as np
import pytest

import refgan
from refgan import nn


def make_net():
    return nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding="same"), nn.BatchNorm2d(8),
                         nn.LeakyReLU(0.2), nn.Dropout(0.3), nn.Flatten(),
                         nn.Linear(8 * 4 * 4, 1))


def test_state_dict_uses_pytorch_names_and_layouts(cpu_backend):
    net = make_net()
    sd = net.state_dict()
    assert list(sd) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean",
                        "1.running_var", "1.num_batches_tracked", "5.weight", "5.bias"]
    assert sd["0.weight"].shape == (8, 3, 5, 5)
    assert nn.ConvTranspose2d(4, 6, 3).weight.shape == (4, 6, 3, 3)
    assert sd["5.weight"].shape == (1, 128)
    assert all(isinstance(v, np.ndarray) for v in sd.values())


def test_state_dict_round_trip_and_errors(cpu_backend):
    refgan.manual_seed(0)
    a = make_net()
    refgan.manual_seed(1)
    b = make_net()
    x = refgan.tensor(np.random.default_rng(0).standard_normal((2, 3, 8, 8)))
    a.eval(), b.eval()
    assert not np.allclose(a(x).numpy(), b(x).numpy())
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a(x).numpy(), b(x).numpy())
    bad = a.state_dict()
    bad["0.weight"] = np.zeros((1, 1))
    with pytest.raises(ValueError, match="0.weight"):
        b.load_state_dict(bad)
    del bad["0.weight"]
    with pytest.raises(KeyError, match="missing"):
        b.load_state_dict(bad)


def test_train_eval_modes_change_dropout_and_batch_norm(cpu_backend):
    net = make_net()
    x = refgan.tensor(np.random.default_rng(0).standard_normal((4, 3, 8, 8)))
    net.train()
    net(x)
    bn = net[1]
    assert int(bn.num_batches_tracked) == 1
    assert not np.allclose(bn.running_mean, 0)
    net.eval()
    y1, y2 = net(x).numpy(), net(x).numpy()
    np.testing.assert_array_equal(y1, y2)  # no dropout, running statistics
    assert int(bn.num_batches_tracked) == 1


def test_parameters_registered_in_order_and_counted(cpu_backend):
    net = make_net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "5.weight", "5.bias"]
    assert net.num_parameters() == 8 * 3 * 25 + 8 + 8 + 8 + 128 + 1


def test_default_and_dcgan_initialisers(numpy_backend):
    refgan.manual_seed(0)
    lin = nn.Linear(400, 300)
    bound = 1 / np.sqrt(400)
    w = lin.weight.numpy()
    assert w.min() >= -bound and w.max() <= bound and w.std() == pytest.approx(
        bound / np.sqrt(3), rel=0.05)
    net = nn.Sequential(nn.Conv2d(64, 64, 3), nn.BatchNorm2d(64))
    nn.init.dcgan_(net)
    assert net[0].weight.numpy().std() == pytest.approx(0.02, rel=0.05)
    assert net[1].weight.numpy().mean() == pytest.approx(1.0, abs=0.01)
    assert np.all(net[0].bias.numpy() == 0)


def test_dcgan_init_reaches_every_weight_layer_and_leaves_embeddings(numpy_backend):
    refgan.manual_seed(0)
    net = nn.Sequential(nn.Embedding(10, 200), nn.Linear(100, 200), nn.ConvTranspose2d(32, 32, 4),
                        nn.BatchNorm1d(300), nn.LeakyReLU(0.2))
    emb = net[0].weight.numpy().copy()
    nn.init.dcgan_(net)
    np.testing.assert_array_equal(net[0].weight.numpy(), emb)          # N(0, 1) kept
    for layer in (net[1], net[2]):
        assert layer.weight.numpy().std() == pytest.approx(0.02, rel=0.05)
        assert np.all(layer.bias.numpy() == 0)
    assert net[3].weight.numpy().std() == pytest.approx(0.02, rel=0.15)
    assert np.all(net[3].bias.numpy() == 0)


def test_seeded_models_are_identical_across_backends():
    weights = {}
    for name in ("numpy", "numba"):
        with refgan.using_backend(name):
            refgan.manual_seed(3)
            weights[name] = make_net().state_dict()
    for k in weights["numpy"]:
        np.testing.assert_array_equal(weights["numpy"][k], weights["numba"][k])


def test_embedding_and_upsample(numpy_backend):
    emb = nn.Embedding(5, 2)
    out = emb(np.array([4, 0, 4]))
    np.testing.assert_array_equal(out.numpy()[0], out.numpy()[2])
    with pytest.raises(IndexError):
        emb(np.array([5]))
    up = nn.Upsample(2)(refgan.tensor(np.arange(4.0).reshape(1, 1, 2, 2)))
    np.testing.assert_array_equal(up.numpy()[0, 0], [[0, 0, 1, 1], [0, 0, 1, 1],
                                                     [2, 2, 3, 3], [2, 2, 3, 3]])


def test_batch_norm_rejects_wrong_rank_and_single_value(numpy_backend):
    with pytest.raises(ValueError, match="4-D"):
        nn.BatchNorm2d(3)(refgan.tensor(np.zeros((2, 3))))
    with pytest.raises(ValueError, match="more than one value"):
        nn.BatchNorm1d(3)(refgan.tensor(np.zeros((1, 3))))


def test_minibatch_std_against_a_loop(numpy_backend):
    """Each sample gets, as an extra channel, its group's mean over (c, h, w) of the
    per-feature standard deviation; groups are consecutive, of the largest divisor of
    N up to group_size."""
    x = np.random.default_rng(0).standard_normal((6, 3, 2, 2))
    layer = nn.MinibatchStd(4)
    assert [layer.group(n) for n in (1, 2, 6, 7, 8, 16)] == [1, 2, 3, 1, 4, 4]
    y = layer(refgan.tensor(x)).numpy()
    assert y.shape == (6, 4, 2, 2)
    np.testing.assert_array_equal(y[:, :3], x)
    for i in range(6):
        group = x[(i // 3) * 3:(i // 3) * 3 + 3]
        expected = np.sqrt(group.var(axis=0) + 1e-8).mean()
        np.testing.assert_allclose(y[i, 3], np.full((2, 2), expected), rtol=1e-12)
    with pytest.raises(ValueError, match="group_size"):
        nn.MinibatchStd(0)


def test_minibatch_std_gradients_first_and_second_order(cpu_backend):
    from refgan.gradcheck import check_backward, check_double_backward
    x = np.random.default_rng(1).standard_normal((4, 2, 3, 3))
    layer = nn.MinibatchStd(2)
    check_backward(layer, [x])
    check_double_backward(layer, [x])


def test_minibatch_std_only_in_the_wgan_trunk(numpy_backend):
    """The trunk puts MinibatchStd before its last conv (one more input channel) and
    refuses it for the batch-norm 'dcgan' trunk rather than ignoring it."""
    from refgan.gans.architectures import Trunk
    body = list(Trunk(16, 4, "wgan", dropout=0.0, minibatch_std=4).body)
    i = next(k for k, m in enumerate(body) if isinstance(m, nn.MinibatchStd))
    assert body[i + 1].in_channels == body[i - 2].out_channels + 1
    with pytest.raises(ValueError, match="'wgan' trunk only"):
        Trunk(16, 4, "dcgan", minibatch_std=4)
