"""The namespace tree — the one home of what a namespace publishes — and where
DNS is touched (docs/format.md §6, §8).

* `layout`     — every path in the tree (nothing else builds one)
* `descriptor` — `/sealedreg.json`, signed by the organisation
* `sealing`    — a private repository's contents sealed to its recipients
* `builder`    — a snapshot of the namespace → tree blocks in the store
* `reader`     — a tree root → its files, descriptor and envelopes, verified
* `keyfiles`   — the organisation's key files on disk
* `records`    — the `_sealedreg` TXT record
* `recipients` — naming a recipient or publisher: key text, .pub file or domain
* `dns`        — DNS lookups (dnspython)

This package knows the tree's format; it never reads the registry's index.
The registry hands it a snapshot (`builder.NamespaceSnapshot`).
"""
