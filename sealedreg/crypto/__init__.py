"""Cryptography: the convergent blob codec (`sealedreg-ce/v1`) and, later,
sealed envelopes. Every byte sealedreg encrypts is encrypted here."""
