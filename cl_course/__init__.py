"""cl_course: the tested helper package of the course "Contrastive learning, negative by negative".

Modules, one job each (and where each piece is taught):
    data         data sets as in-memory uint8 tensors (CIFAR-10, MNIST, scikit-learn digits)
    augment      SimCLR's random views, one draw per image, batched on the device   (notebook 01)
    models       small CNN / CIFAR ResNet-18 encoders and the projection head
    losses       the contrastive losses of the course, one module per paper          (01: nt_xent)
    train        one training loop for any objective; checkpoints; NaN guard
    evaluate     weighted kNN, linear probe, alignment and uniformity               (01)
    diagnostics  positives vs negatives vs same-class negatives in a batch           (01)
    plots        the course's figures
    profiles     ci / cpu / gpu sizes and parameter checks
    session      what every notebook does around its lesson (setup → train → JSON)
    results      the run folder's JSON files → summary table
    run          the papermill runner: ``python -m cl_course.run``
    exercises    checkers for the notebooks' exercises
"""
__version__ = "0.1.0"
