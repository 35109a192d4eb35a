"""A tiny model, views and images for the objective tests, and the by-hand loss of one step."""
import torch


def tiny_setup():
    from cl_course.augment import SimCLRViews
    from cl_course.models import build_model

    torch.manual_seed(0)
    views = SimCLRViews(size=16, scale=(0.5, 1.0), jitter_p=0, gray_p=0, flip_p=0)
    images = (torch.rand(8, 3, 16, 16) * 255).to(torch.uint8)
    return views, images, lambda: build_model("small_cnn", 3, 8, 2, 1, 1)


def labels_of(n=8, classes=3):
    return torch.arange(n) % classes


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def projections_by_hand(model, views, images, seed=0):
    """``(z1, z2)`` as a step computes them: both views of every image in one forward pass, drawn
    from a generator seeded ``seed`` (the same draws the objective makes first)."""
    x = views.stacked_pair(images, gen(seed))
    return model(x).chunk(2)
