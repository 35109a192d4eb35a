"""pytest set-up shared by the unit tests and the notebooks run under nbval.

nbval cannot pass parameters to a notebook, so the environment chooses its profile (ci), where
its JSON goes (a temporary folder), and quiet progress output; the kernels inherit it.
"""
import os
import tempfile

os.environ.setdefault("CL_COURSE_PROFILE", "ci")
os.environ.setdefault("CL_COURSE_OUTPUT", tempfile.mkdtemp(prefix="cl_course_nbval_"))
os.environ.setdefault("CL_COURSE_QUIET", "1")
