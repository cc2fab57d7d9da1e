"""The registry model: repositories, blobs, manifests, tags and upload sessions.

Nothing here knows about HTTP; errors carry OCI error codes that the API layer
renders. Nothing here knows how bytes are stored either: that is the storage
seam's job (`sealedreg.storage`).
"""
