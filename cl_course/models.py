"""Encoders and the projection head: a small CNN for the ci/cpu profiles, a CIFAR ResNet-18 for gpu.

The encoder maps images to the representation ``h`` that is evaluated (kNN, linear probe); the
projection head maps ``h`` to the ``z`` that the loss sees (SimCLR §2.1). They are kept apart so
that evaluation never touches the head.
"""
from __future__ import annotations

import torch
from torch import nn


def _conv_bn(c_in: int, c_out: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(inplace=True),
    )


class SmallCNN(nn.Module):
    """A VGG-style CNN for CPUs: a conv-BN-ReLU stem with stride ``stem_stride`` (2 halves the
    resolution at once, which is where a CPU spends its time), then ``stages`` blocks of
    conv-BN-ReLU (×``depth``) each followed by 2×2 max-pool, widths ``width·2^k``, then global
    average pooling. ``feature_dim = width·2^(stages-1)``."""

    def __init__(self, in_channels: int = 3, width: int = 64, stages: int = 3, depth: int = 1,
                 stem_stride: int = 2):
        super().__init__()
        if width < 1 or stages < 1 or depth < 1 or stem_stride < 1:
            raise ValueError(
                f"width, stages, depth and stem_stride must be >= 1, got {width}, {stages}, {depth}, {stem_stride}")
        layers: list[nn.Module] = [_conv_bn(in_channels, width, stride=stem_stride)]
        c = width
        for k in range(stages):
            c_out = width * 2**k
            for _ in range(depth):
                layers.append(_conv_bn(c, c_out))
                c = c_out
            layers.append(nn.MaxPool2d(2) if k < stages - 1 else nn.AdaptiveAvgPool2d(1))
        self.features = nn.Sequential(*layers)
        self.feature_dim = c

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).flatten(1)  # (N, feature_dim)


def resnet18_cifar(in_channels: int = 3) -> nn.Module:
    """torchvision's ResNet-18 with the CIFAR stem: a 3×3 stride-1 first conv and no max-pool."""
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    net.feature_dim = 512
    return net


class ProjectionHead(nn.Module):
    """SimCLR's MLP head: Linear → BN → ReLU → Linear."""

    def __init__(self, in_dim: int, hidden_dim: int = 512, out_dim: int = 128):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden_dim, bias=False),
            nn.BatchNorm1d(hidden_dim),
            nn.ReLU(inplace=True),
            nn.Linear(hidden_dim, out_dim),
        )

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        return self.net(h)


class ContrastiveModel(nn.Module):
    """Encoder + projection head. ``model(x)`` returns the projections ``z``; ``model.encoder(x)``
    the representation ``h`` used for evaluation."""

    def __init__(self, encoder: nn.Module, head: nn.Module):
        super().__init__()
        self.encoder = encoder
        self.head = head

    @property
    def feature_dim(self) -> int:
        return self.encoder.feature_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


ENCODERS = ("small_cnn", "resnet18")


def build_model(
    encoder: str = "small_cnn",
    in_channels: int = 3,
    width: int = 64,
    stages: int = 3,
    depth: int = 1,
    stem_stride: int = 2,
    proj_hidden: int = 512,
    proj_dim: int = 128,
) -> ContrastiveModel:
    """Build encoder + head by name (``"small_cnn"`` or ``"resnet18"``)."""
    if encoder == "small_cnn":
        enc = SmallCNN(in_channels, width=width, stages=stages, depth=depth, stem_stride=stem_stride)
    elif encoder == "resnet18":
        enc = resnet18_cifar(in_channels)
    else:
        raise ValueError(f"unknown encoder {encoder!r}: choose one of {ENCODERS}")
    return ContrastiveModel(enc, ProjectionHead(enc.feature_dim, proj_hidden, proj_dim))


class EncoderPair(nn.Module):
    """Two contrastive models trained side by side (WCL, notebook 07): ``debiased`` (the one
    evaluated: ``.encoder``) and ``biased``; ``lr_scales`` gives the biased one its own learning
    rate (``biased_lr_scale × lr``) through :func:`cl_course.train.make_optimizer`."""

    def __init__(self, debiased: nn.Module, biased: nn.Module, biased_lr_scale: float = 1.0):
        super().__init__()
        if not biased_lr_scale > 0:
            raise ValueError(f"the biased encoder's learning rate must be > 0, got scale {biased_lr_scale!r}")
        self.debiased, self.biased = debiased, biased
        self.lr_scales = {"biased": float(biased_lr_scale)}

    @property
    def encoder(self) -> nn.Module:
        return self.debiased.encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.debiased(x)
