"""Where a byte is encrypted, decrypted or signed — and nothing else: pure
functions over bytes, no files, no network, no storage.

* `convergent` — the blob codec `sealedreg-ce/v1` (key derivation, chunks)
* `stream`     — ranges and chunk framing of that codec's ciphertext
* `envelope`   — sealed envelopes `sealedreg-seal/v1`
* `signed`     — canonical JSON and signed JSON documents
* `keys`       — organisation keys and their encodings

See docs/format.md §2 and §8.
"""
