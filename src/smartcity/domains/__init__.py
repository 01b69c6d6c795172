"""City domains: each declares itself once (`Domain`) in its package's `__init__.py`."""
