"""Encoders and the projection head: shapes, the CIFAR ResNet-18 stem, and encoder/head separation."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from cl_course.models import ContrastiveModel, SmallCNN, build_model, resnet18_cifar


@pytest.mark.parametrize("channels, size, width, stages, stem", [(3, 32, 8, 3, 2), (1, 16, 4, 2, 1), (3, 24, 8, 3, 2)])
def test_small_cnn_features_have_the_documented_dimension(channels, size, width, stages, stem):
    net = SmallCNN(channels, width=width, stages=stages, stem_stride=stem)
    out = net(torch.randn(2, channels, size, size))
    assert out.shape == (2, width * 2 ** (stages - 1)) == (2, net.feature_dim)


def test_small_cnn_stem_stride_halves_the_first_feature_map():
    x = torch.randn(1, 3, 32, 32)
    assert SmallCNN(3, width=4, stem_stride=2).features[0](x).shape[-1] == 16
    assert SmallCNN(3, width=4, stem_stride=1).features[0](x).shape[-1] == 32


def test_resnet18_cifar_has_a_3x3_stride_1_stem_no_maxpool_and_512_features():
    net = resnet18_cifar(3)
    assert net.conv1.kernel_size == (3, 3) and net.conv1.stride == (1, 1)
    assert isinstance(net.maxpool, nn.Identity) and isinstance(net.fc, nn.Identity)
    net.eval()
    with torch.no_grad():
        assert net(torch.randn(2, 3, 32, 32)).shape == (2, 512)
    assert net.layer1(net.relu(net.bn1(net.conv1(torch.randn(1, 3, 32, 32))))).shape[-1] == 32  # full resolution


def test_model_returns_projections_and_encoder_returns_features():
    model = build_model("small_cnn", 3, width=8, stages=3, proj_hidden=32, proj_dim=16)
    x = torch.randn(4, 3, 32, 32)
    assert model(x).shape == (4, 16)
    assert model.encoder(x).shape == (4, model.feature_dim) == (4, 32)
    encoder_params = {id(p) for p in model.encoder.parameters()}
    assert not encoder_params & {id(p) for p in model.head.parameters()}, "the head must be separate from the encoder"
    assert isinstance(model, ContrastiveModel)


def test_build_model_rejects_an_unknown_encoder_naming_the_choices():
    with pytest.raises(ValueError, match="unknown encoder 'vit'.*small_cnn"):
        build_model("vit")


def test_small_cnn_rejects_non_positive_sizes():
    with pytest.raises(ValueError, match="width"):
        SmallCNN(3, width=0)
