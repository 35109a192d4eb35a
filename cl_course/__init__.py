"""cl_course: the tested helper package of the course "Contrastive learning, negative by negative".

The library, one job per module (and where each piece is taught):
    data         data sets as in-memory uint8 tensors (CIFAR-10, MNIST, scikit-learn digits)
    shortcuts    biased data sets with a known colour shortcut and recorded groups  (notebooks 06-07)
    augment      SimCLR's random views, one draw per image, batched on the device   (01)
    negatives    negatives with diminished semantics: patch shuffles, texture tiles  (06)
    models       small CNN / CIFAR ResNet-18 encoders, the projection head, encoder pairs
    losses       the contrastive losses of the course, one module per paper          (01: nt_xent, ...)
    objectives   how a batch becomes a loss, one module per method that needs more than two views
    train        one training loop for any objective; checkpoints; NaN guard
    precision    bf16 autocast or float32 for the training step and the embedding pass, per device
    checkpoints  trained encoders on disk: one format, a fingerprint of what shaped them, weights_only
    distributed  several processes (torch.distributed): the model sharded, every loss on the global batch
    evaluate     weighted kNN, linear probe, group accuracy, alignment and uniformity (01, 06)
    diagnostics  positives vs negatives vs same-class negatives in a batch; detection counts (01, 04)

The course harness, apart (``cl_course.harness``; the library never imports it): profiles,
session, variants, the runner, results tables, plots, exercise checkers, notebook cleaning.
How the pieces fit: docs/architecture.md.
"""
__version__ = "0.1.0"
