"""carms-cli: an estimator variance analyzer for gradients through discrete random variables.

Importing the package is light: numba is imported only when a kernel is needed.
"""

__version__ = "0.2.0"
