"""sealedreg: an OCI distribution-spec v1.1 registry that keeps images on IPFS, encrypted."""

__version__ = "0.1.0"
