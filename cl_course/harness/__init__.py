"""The course harness: what only the notebooks and the runner use, kept apart from the library.

    profiles     ci / cpu / gpu sizes and the checking of a notebook's parameters
    session      what every notebook does around its lesson: set-up, train, compare, evaluate, JSON
    variants     the comparison of several objectives at one budget, next to the untrained encoder
    encoders     encoders reused instead of trained: the shared start of 03-05, the cache, ``-p checkpoint``
    run          the papermill runner: ``python -m cl_course.harness.run``
    results      the run folders' JSON files → summary, seed, timing and side-by-side tables, with pandas
                 (``python -m cl_course.harness.results``; ``--timing`` for wall times per profile and device)
    plots        the course's figures (seaborn; one theme set on import)
    labels       the words for the metric keys (axes, legends, table headers), in one place
    exercises    checkers for the notebooks' exercises, one module per notebook
    lecture      a notebook's "What was measured": sentences and claims written from the run's own numbers
    nbclean      notebooks stored clean (``python -m cl_course.harness.nbclean``)
    pretrain     the training command: one encoder of any method, 1 process or torchrun, for the notebooks
                 to load (``python -m cl_course.harness.pretrain``)

The library (every other module of ``cl_course``) never imports from here.
"""
