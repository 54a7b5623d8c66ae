"""Which network a set of weights is, read from the weights alone, and whether a checkpoint fits a config: what a
checkpoint mismatch names."""

import pytest

from src.core.errors import ConfigError
from src.models.architecture import check_checkpoint_fits, check_weights_fit, describe_weights
from src.models.nested_unet import NestedUNet
from src.models.pixel_classifier import PixelClassifier
from src.models.unet import UNet


def weights(net) -> dict:
    return {f"net.{k}": v for k, v in net.state_dict().items()}


def test_weights_name_the_family_width_depth_and_deep_supervision():
    assert (
        describe_weights(weights(UNet(3, 5, base_channels=4, depth=3)))
        == "a UNet (model=unet model.net.base_channels=4 model.net.depth=3)"
    )
    assert describe_weights(weights(NestedUNet(3, 5, base_channels=6, depth=2))) == (
        "a UNet++ (model=unetpp model.net.base_channels=6 model.net.depth=2 model.net.deep_supervision=false)"
    )
    assert describe_weights(weights(NestedUNet(3, 5, base_channels=6, depth=2, deep_supervision=True))) == (
        "a UNet++ (model=unetpp model.net.base_channels=6 model.net.depth=2 model.net.deep_supervision=true)"
    )
    assert describe_weights(weights(PixelClassifier(3, 5, hidden_channels=8, layers=2))) == (
        "a colour baseline (model=colour_baseline model.net.hidden_channels=8 model.net.layers=2)"
    )


@pytest.mark.parametrize(
    ("saved", "built", "message"),
    [
        (
            UNet(3, 5, 4, 2),
            UNet(3, 5, 4, 3),
            "is a UNet (model=unet model.net.base_channels=4 model.net.depth=2), but here builds a UNet (mo",
        ),
        (
            NestedUNet(3, 5, 4, 2, deep_supervision=True),
            NestedUNet(3, 5, 4, 2),
            "is a UNet++ (model=unetpp model.net.base_channels=4 model.net.depth=2"
            " model.net.deep_supervision=true), but here builds a UNet++ (model=unetpp model.net.base_channels=4",
        ),
        (UNet(3, 5, 4, 2), UNet(3, 7, 4, 2), "it: its net.head.1.weight is (5, 3, 1, 1), but here builds (7, 3, 1, 1)"),
    ],
    ids=["depth", "deep supervision", "classes"],
)
def test_a_mismatch_is_one_line_naming_both_sides(saved, built, message):
    with pytest.raises(ConfigError) as raised:
        check_weights_fit(weights(saved), weights(built), "it", "here")
    assert message in str(raised.value)
    check_weights_fit(weights(built), weights(built), "it", "here")  # the same network fits


def test_a_checkpoint_fits_only_a_config_of_its_class_count_and_network():
    saved = {"hyper_parameters": {"num_classes": 5}, "state_dict": weights(UNet(3, 5, 4, 2))}
    with pytest.raises(ConfigError, match=r"^it was trained for 5 classes but data\.num_classes is 7; use the data"):
        check_checkpoint_fits(saved, weights(UNet(3, 7, 4, 2)), 7, "it", "here")  # named by class count, first
    network = r"^it is a UNet \(model=unet .*depth=2\), but here builds a UNet \(.*depth=3\)"
    with pytest.raises(ConfigError, match=network):
        check_checkpoint_fits(saved, weights(UNet(3, 5, 4, 3)), 5, "it", "here")
    check_checkpoint_fits(saved, weights(UNet(3, 5, 4, 2)), 5, "it", "here")  # the same network and classes fit
    check_checkpoint_fits({"state_dict": saved["state_dict"]}, weights(UNet(3, 5, 4, 2)), 5, "it", "here")  # no hparams
