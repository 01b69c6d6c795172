"""The kernel: context broker, storage, registry. Knows no domain."""
