from __future__ import annotations

import hashlib

import pytest

from common.errors import NotFound
from documents import storage


def test_bytes_are_stored_under_their_sha256_and_read_back(tmp_path):
    data = b"%PDF-1.7 documento"
    sha = storage.put(data, root=tmp_path)
    assert sha == hashlib.sha256(data).hexdigest()
    assert (tmp_path / sha[:2] / sha[2:4] / sha).is_file()
    assert storage.get(sha, root=tmp_path) == data
    assert storage.put(data, root=tmp_path) == sha  # idempotent
    assert not list(tmp_path.rglob(".tmp-*"))


def test_a_blob_altered_on_disk_is_not_served(tmp_path):
    sha = storage.put(b"originale", root=tmp_path)
    path = tmp_path / sha[:2] / sha[2:4] / sha
    path.chmod(0o640)
    path.write_bytes(b"alterato")
    with pytest.raises(NotFound) as err:
        storage.get(sha, root=tmp_path)
    assert err.value.code == "corrupt_blob"


@pytest.mark.parametrize("name", ["../../etc/passwd", "abc", "A" * 64])
def test_names_that_are_not_a_sha256_are_refused(name, tmp_path):
    with pytest.raises(NotFound):
        storage.get(name, root=tmp_path)
