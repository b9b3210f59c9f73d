"""The deciding code, pure: no Home Assistant, and no import leaves this package.

The integration and the benchmark (``bench/core.py``) run these same files;
``tests/core/test_purity.py`` fails on any import of Home Assistant or from outside.
"""
