"""A tiny model, views and images for the objective tests."""
import torch


def tiny_setup():
    from cl_course.augment import SimCLRViews
    from cl_course.models import build_model

    torch.manual_seed(0)
    views = SimCLRViews(size=16, scale=(0.5, 1.0), jitter_p=0, gray_p=0, flip_p=0)
    images = (torch.rand(8, 3, 16, 16) * 255).to(torch.uint8)
    return views, images, lambda: build_model("small_cnn", 3, 8, 2, 1, 1)
