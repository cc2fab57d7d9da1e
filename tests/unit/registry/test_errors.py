"""Every registry error carries a code the distribution-spec defines, and the API
has a status for it."""

import pytest

from sealedreg.api.errors import status_of
from sealedreg.registry import errors as e
from sealedreg.registry.domains import UnknownDomain

SPEC_CODES = {"BLOB_UNKNOWN", "BLOB_UPLOAD_INVALID", "BLOB_UPLOAD_UNKNOWN", "DIGEST_INVALID",
              "MANIFEST_BLOB_UNKNOWN", "MANIFEST_INVALID", "MANIFEST_UNKNOWN", "NAME_INVALID", "NAME_UNKNOWN",
              "SIZE_INVALID", "UNAUTHORIZED", "DENIED", "UNSUPPORTED", "TOOMANYREQUESTS"}
ERRORS = [c for c in vars(e).values() if isinstance(c, type) and issubclass(c, e.RegistryError)
          and c not in (e.RegistryError, e.Unavailable)]


@pytest.mark.parametrize("cls", ERRORS, ids=[c.__name__ for c in ERRORS])
def test_codes_are_the_specs_and_statuses_are_set(cls):
    exc = cls(7) if cls is e.RangeNotSatisfiable else cls()
    assert exc.code in SPEC_CODES
    assert 400 <= status_of(exc) < 500
    assert exc.message == cls.default_message and str(exc) == exc.message


def test_an_unavailable_source_is_a_503_to_retry():
    # Not a spec code (the spec has none for it); the same code the storage backend's 503 uses.
    assert status_of(e.Unavailable()) == 503 and e.Unavailable().code == "UNAVAILABLE"


def test_unknown_domain_is_a_server_side_error():
    assert status_of(UnknownDomain()) == 500 and UnknownDomain().code == "UNKNOWN"


def test_detail_and_message_travel():
    exc = e.BlobUnknown("gone", detail={"digest": "sha256:x"})
    assert exc.message == "gone" and exc.detail == {"digest": "sha256:x"}


def test_integrity_errors_are_not_registry_errors():
    assert not issubclass(e.IntegrityError, e.RegistryError)  # never rendered as a client's mistake
