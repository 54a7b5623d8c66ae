import functools

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from src.models import NestedUNet, UNet
from src.models.nested_unet import node_name
from src.training.module import SegmentationModule

SMALL = {"num_classes": 5, "base_channels": 4, "depth": 4, "head_channels": None}


def count_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def forward_flops(net: nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        net(x)
    return counter.get_total_flops()


def trained_like(net: nn.Module) -> nn.Module:
    """Non-trivial BatchNorm statistics, so eval-mode comparisons are not between freshly initialised nets."""
    torch.manual_seed(1)
    with torch.no_grad():
        net.train()(torch.randn(2, 3, 32, 64))
    return net.eval()


def test_nodes_form_the_nested_grid_keyed_by_depth_and_position():
    net = NestedUNet(**SMALL)
    expected = {node_name(i, j) for j in range(5) for i in range(5 - j)}
    assert set(net.nodes) == expected and len(expected) == 15
    # X^{i,j} concatenates j same-depth maps and the upsampled map below: (j + 1) * width channels in.
    assert net.nodes["x_0_4"].block[0].in_channels == 5 * 4
    assert net.nodes["x_2_1"].block[0].in_channels == 2 * 16
    assert net.nodes["x_1_2"].up.reduce.in_channels == 2 * 8  # from X^{2,1}, halved to X^{1,*}'s width
    assert set(net.heads) == {"x_0_4"}


def test_forward_wires_the_dense_skips_as_the_paper_draws_them():
    """A hand-written depth-3 UNet++ from the same modules: any mis-wired skip changes the heads."""
    net = trained_like(NestedUNet(**{**SMALL, "depth": 3}, deep_supervision=True))
    n, x = net.nodes, torch.randn(2, 3, 32, 64)
    with torch.no_grad():
        x00 = n["x_0_0"](x)
        x10 = n["x_1_0"](x00)
        x01 = n["x_0_1"]([x00], x10)
        x20 = n["x_2_0"](x10)
        x11 = n["x_1_1"]([x10], x20)
        x02 = n["x_0_2"]([x00, x01], x11)
        x30 = n["x_3_0"](x20)
        x21 = n["x_2_1"]([x20], x30)
        x12 = n["x_1_2"]([x10, x11], x21)
        x03 = n["x_0_3"]([x00, x01, x02], x12)
        reference = [net.heads[f"x_0_{j}"](f) for j, f in ((1, x01), (2, x02), (3, x03))]
        for level in (1, 2, 3):
            net.prune_level = level
            torch.testing.assert_close(net(x), reference[level - 1])
        # X^{0,3} sees X^{0,0}, X^{0,1}, X^{0,2} and then the upsampled X^{1,2}, in that order.
        up = n["x_0_3"].up
        torch.testing.assert_close(up(x12, x00, x01, x02)[:, :12], torch.cat([x00, x01, x02], 1))


@pytest.mark.parametrize(("h", "w"), [(64, 128), (37, 61)])
@pytest.mark.parametrize("deep_supervision", [False, True])
def test_output_shapes_every_prune_level_with_and_without_deep_supervision(deep_supervision, h, w):
    x = torch.randn(2, 3, h, w)
    net = NestedUNet(**SMALL, deep_supervision=deep_supervision)
    train_out = net.train()(x)
    if deep_supervision:
        assert [o.shape for o in train_out] == [(2, 5, h, w)] * 4
    else:
        assert train_out.shape == (2, 5, h, w)
    net.eval()
    levels = [1, 2, 3, 4, None] if deep_supervision else [4, None]
    for level in levels:
        net.prune_level = level
        with torch.no_grad():
            assert net(x).shape == (2, 5, h, w), level
    for mode in ("accurate", "fast"):
        net.ds_mode, net.prune_level = mode, None
        with torch.no_grad():
            assert net(x).shape == (2, 5, h, w)


@pytest.mark.parametrize("head_channels", [None, 3])
def test_pruned_forward_equals_that_head_of_the_full_forward_in_eval_mode(head_channels):
    net = trained_like(NestedUNet(**{**SMALL, "head_channels": head_channels}, deep_supervision=True))
    x = torch.randn(2, 3, 32, 64)
    with torch.no_grad():
        full_heads = net.head_logits(x, [1, 2, 3, 4])
        for level in (1, 2, 3, 4):
            net.prune_level = level
            pruned = net(x)
            standalone = net.pruned(level).eval()(x)
            torch.testing.assert_close(pruned, full_heads[level - 1], rtol=1e-5, atol=1e-5)
            torch.testing.assert_close(standalone, full_heads[level - 1], rtol=1e-5, atol=1e-5)
        net.prune_level, net.ds_mode = None, "fast"
        torch.testing.assert_close(net(x), full_heads[3])


def test_pruned_copy_matches_on_sizes_not_divisible_by_the_depth():
    net = trained_like(NestedUNet(**SMALL, deep_supervision=True))
    x = torch.randn(1, 3, 37, 61)
    with torch.no_grad():
        net.prune_level = 2
        torch.testing.assert_close(net.pruned(2).eval()(x), net(x))


def test_accurate_mode_averages_the_heads_probabilities():
    net = trained_like(NestedUNet(**SMALL, deep_supervision=True, ds_mode="accurate"))
    x = torch.randn(1, 3, 32, 64)
    with torch.no_grad():
        heads = net.head_logits(x, [1, 2, 3, 4])
        out = net(x)
    mean_probs = torch.stack([z.softmax(1) for z in heads]).mean(0)
    torch.testing.assert_close(out.exp(), mean_probs, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(out.softmax(1), mean_probs, rtol=1e-5, atol=1e-6)  # log-probs work as logits


def test_pruning_really_skips_work_fewer_flops_and_parameters_per_level():
    net = NestedUNet(**SMALL, deep_supervision=True).eval()
    x = torch.randn(1, 3, 64, 128)
    flops, params = [], []
    for level in (1, 2, 3, 4):
        net.prune_level = level
        flops.append(forward_flops(net, x))
        params.append(count_params(net.pruned(level)))
    assert flops == sorted(flops) and len(set(flops)) == 4, flops
    assert params == sorted(params) and len(set(params)) == 4, params
    # The standalone level-L model costs exactly what the pruned forward of the full model costs.
    assert forward_flops(net.pruned(2).eval(), x) == flops[1]


def test_deep_supervision_loss_reaches_every_head_and_parameter():
    net = NestedUNet(**SMALL, deep_supervision=True, ds_weights=[1, 2, 3, 4]).train()
    assert net.head_weights == pytest.approx([0.1, 0.2, 0.3, 0.4])
    outputs = net(torch.randn(2, 3, 32, 48))
    labels = torch.randint(0, 5, (2, 32, 48))
    loss = sum(w * nn.functional.cross_entropy(z, labels) for w, z in zip(net.head_weights, outputs, strict=True))
    loss.backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert not missing
    assert set(net.heads) == {"x_0_1", "x_0_2", "x_0_3", "x_0_4"}


def test_module_trains_on_the_weighted_mean_of_the_heads_losses():
    net = NestedUNet(**SMALL, deep_supervision=True, ds_weights=[0, 1, 1, 2])
    module = SegmentationModule(net, functools.partial(torch.optim.Adam), num_classes=5).train()
    images, labels = torch.randn(2, 3, 32, 48), torch.randint(0, 5, (2, 32, 48))
    outputs = module(images)
    loss = module.deep_supervision_loss(outputs, labels)
    ce = [nn.functional.cross_entropy(z, labels).item() for z in outputs]
    assert loss.item() == pytest.approx((ce[1] + ce[2] + 2 * ce[3]) / 4, rel=1e-5)
    loss.backward()
    assert net.heads["x_0_1"][0].weight.grad.abs().sum() == 0  # weight 0: that head is not trained
    assert all(net.heads[f"x_0_{j}"][0].weight.grad.abs().sum() > 0 for j in (2, 3, 4))


def test_without_deep_supervision_every_parameter_still_trains():
    net = NestedUNet(**SMALL).train()
    out = net(torch.randn(2, 3, 32, 48))
    nn.functional.cross_entropy(out, torch.randint(0, 5, (2, 32, 48))).backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_unetpp_has_more_parameters_than_unet_and_equals_it_at_depth_one():
    for width in (4, 16, 64):
        assert count_params(NestedUNet(base_channels=width)) > count_params(UNet(base_channels=width))
    # One level has no nested pathway: the same network, parameter for parameter.
    assert count_params(NestedUNet(base_channels=8, depth=1)) == count_params(UNet(base_channels=8, depth=1))


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"prune_level": 0, "deep_supervision": True}, "model.net.prune_level"),
        ({"prune_level": 5, "deep_supervision": True}, "model.net.prune_level"),
        ({"prune_level": 2}, "model.net.deep_supervision"),
        ({"deep_supervision": True, "ds_mode": "fastest"}, "model.net.ds_mode"),
        ({"deep_supervision": True, "ds_weights": [1, 1]}, "model.net.ds_weights"),
        ({"deep_supervision": True, "ds_weights": [1, -1, 1, 1]}, "model.net.ds_weights"),
        ({"deep_supervision": "yes"}, "model.net.deep_supervision"),
        ({"depth": 0}, "model.net.depth"),
    ],
)
def test_bad_settings_are_errors_naming_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        NestedUNet(**{**SMALL, **kwargs})


def test_settings_changed_on_a_built_net_are_checked_too():
    net = NestedUNet(**SMALL)
    with pytest.raises(ValueError, match=r"model\.net\.deep_supervision"):
        net.prune_level = 2
    with pytest.raises(ValueError, match=r"model\.net\.ds_mode"):
        net.ds_mode = "fastest"
    with pytest.raises(ValueError, match=r"model\.net\.prune_level"):
        NestedUNet(**SMALL, deep_supervision=True).prune_level = 5
    assert net.prune_level is None and net.ds_mode == "fast"


def test_loading_weights_trained_with_other_heads_names_the_setting():
    trained = NestedUNet(**SMALL, deep_supervision=True).state_dict()
    with pytest.raises(ValueError, match=r"heads x_0_1, x_0_2, x_0_3, x_0_4 .* model\.net\.deep_supervision"):
        NestedUNet(**SMALL).load_state_dict(trained)
    NestedUNet(**SMALL, deep_supervision=True, prune_level=2).load_state_dict(trained)  # prune_level: same weights


def test_pruned_copy_rejects_a_level_without_a_head():
    with pytest.raises(ValueError, match=r"model\.net\.deep_supervision"):
        NestedUNet(**SMALL).pruned(2)
