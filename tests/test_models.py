import pytest
import torch
from torch import nn

from src.models import PixelClassifier, UNet


@pytest.mark.parametrize(("base", "depth"), [(4, 1), (4, 2), (8, 3), (4, 4)])
@pytest.mark.parametrize(("h", "w"), [(64, 128), (37, 61), (30, 17)])
def test_unet_logits_match_input_size_for_any_width_depth_and_odd_size(base, depth, h, w):
    net = UNet(num_classes=5, base_channels=base, depth=depth).eval()
    with torch.no_grad():
        out = net(torch.randn(2, 3, h, w))
    assert out.shape == (2, 5, h, w)
    assert out.dtype == torch.float32


def test_reference_unet_widths_double_from_64_to_1024_and_head_is_3_channels():
    net = UNet()  # the reference: in 3, 34 classes, base 64, depth 4, dropout (0.2, 0.5), head 3
    widths = [net.stem[0].out_channels] + [block[0].out_channels for block in net.encoders]
    assert widths == [64, 128, 256, 512, 1024]
    assert [m.p for m in net.stem if isinstance(m, nn.Dropout)] == [0.2, 0.5]
    assert net.head[0].out_channels == 3 and net.head[0].kernel_size == (3, 3)
    assert net.head[1].out_channels == 34 and net.head[1].kernel_size == (1, 1)
    # Down keeps channels with a stride-2 3x3 conv; Up halves them with a 1x1 conv after nearest x2.
    assert all(d[0].stride == (2, 2) and d[0].in_channels == d[0].out_channels for d in net.downs)
    assert [u.reduce.out_channels * 2 for u in net.ups] == [u.reduce.in_channels for u in net.ups]


def test_unet_outputs_logits_not_probabilities():
    net = UNet(num_classes=4, base_channels=4, depth=2, head_channels=None).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        out = net(torch.randn(1, 3, 32, 32) * 5)
    assert out.min() < 0 or out.max() > 1  # a sigmoid would keep every value inside (0, 1)
    assert len(net.head) == 1  # head_channels=None: a single 1x1 classifier


@pytest.mark.parametrize(
    ("kwargs", "key"),
    [
        ({"depth": 0}, "model.net.depth"),
        ({"base_channels": 0}, "model.net.base_channels"),
        ({"dropout": (0.2,)}, "model.net.dropout"),
        ({"num_classes": 1}, "model.net.num_classes"),
    ],
)
def test_unet_rejects_bad_settings_naming_the_key(kwargs, key):
    with pytest.raises(ValueError, match=key):
        UNet(**kwargs)


def test_unet_trains_gradients_reach_every_parameter():
    net = UNet(num_classes=3, base_channels=4, depth=3)
    loss = nn.functional.cross_entropy(net(torch.randn(2, 3, 24, 40)), torch.randint(0, 3, (2, 24, 40)))
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in net.parameters())


def test_pixel_classifier_sees_only_each_pixels_colour():
    net = PixelClassifier(num_classes=6, hidden_channels=8).eval()
    assert all(m.kernel_size == (1, 1) for m in net.modules() if isinstance(m, nn.Conv2d))
    x = torch.randn(1, 3, 10, 12)
    y = x.clone()
    y[..., 0, 0] += 3  # change one pixel: only that pixel's logits may change
    with torch.no_grad():
        diff = (net(x) - net(y)).abs().sum(1)[0]
    assert diff[0, 0] > 0 and diff.flatten()[1:].max() == 0


def test_compile_switch_keeps_checkpoint_names():
    """model.compile=true compiles the net in place: its state_dict, and so checkpoints, keep the same keys."""
    from functools import partial

    from src.training.module import SegmentationModule

    def module(compile_net: bool) -> SegmentationModule:
        net = UNet(num_classes=5, base_channels=4, depth=2)
        return SegmentationModule(net, partial(torch.optim.Adam), num_classes=5, compile=compile_net)

    plain, compiled = module(False), module(True)
    assert list(compiled.state_dict()) == list(plain.state_dict())
    compiled.load_state_dict(plain.state_dict())  # a checkpoint of either loads into the other
    assert compiled.net._compiled_call_impl is not None and plain.net._compiled_call_impl is None


def test_channel_dropout_mode_drops_whole_feature_maps():
    from src.core.errors import ConfigError
    from src.models import NestedUNet

    net = UNet(num_classes=5, base_channels=4, depth=2, dropout=(0.3, 0.3), dropout_mode="channel").train()
    assert not any(type(m) is nn.Dropout for m in net.modules())
    assert sum(isinstance(m, nn.Dropout2d) for m in net.modules()) == 10  # 5 blocks x 2
    x = torch.ones(2, 4, 8, 8)
    dropped = net.stem[2](x)  # the first block's first dropout: each map kept whole or zeroed
    per_map = dropped.flatten(2)
    assert torch.all((per_map == 0).all(-1) | (per_map == per_map[..., :1]).all(-1))
    nested = NestedUNet(num_classes=5, base_channels=4, depth=2, dropout_mode="channel", deep_supervision=True)
    assert any(isinstance(m, nn.Dropout2d) for m in nested.pruned(1).modules())  # the pruned copy keeps the mode
    with pytest.raises(ConfigError, match="dropout_mode must be one of element, channel, got 'spatial'"):
        UNet(dropout_mode="spatial")


def test_compile_that_fails_falls_back_to_eager_with_a_warning(monkeypatch, caplog):
    """model.compile=true where compiling fails (no C compiler, unsupported op): same outputs, eager, a warning."""
    from functools import partial

    from src.training.module import SegmentationModule

    def no_compiler(graph, example_inputs):
        raise RuntimeError("no C compiler on this machine")

    compile_in_place = torch.nn.Module.compile
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, **kw: compile_in_place(self, backend=no_compiler))
    eager = UNet(num_classes=5, base_channels=4, depth=2)
    net = UNet(num_classes=5, base_channels=4, depth=2)
    net.load_state_dict(eager.state_dict())
    module = SegmentationModule(net, partial(torch.optim.Adam), num_classes=5, compile=True).eval()
    x = torch.randn(2, 3, 32, 64)
    expected = eager.eval().to(memory_format=torch.channels_last)(x.contiguous(memory_format=torch.channels_last))
    torch.testing.assert_close(module(x), expected)
    assert "no C compiler on this machine" in caplog.text  # dynamo's warning names the failure
