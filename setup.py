# Shim for pip's editable install; all metadata lives in setup.cfg.
from setuptools import setup

setup()
