"""Worked answers to the notebooks' exercises, for instructors: one module per notebook
(``s01_simclr_basics`` … ``s07_wcl_difficulty``), each defining the functions the notebook's
exercise cells ask for, under the same names. Kept out of the notebooks on purpose; see README.md.
"""
