"""Documents on S3-compatible object storage (django-storages), against an S3 server over HTTP."""

from __future__ import annotations

import boto3
import pytest
from django.core.files.storage import storages
from moto.server import ThreadedMotoServer

from common.errors import NotFound
from documents import storage

BUCKET = "procedo-documenti"


@pytest.fixture
def s3(settings):
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s",
                 region_name="eu-south-1").create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-south-1"})
    settings.STORAGES = {**settings.STORAGES, "documents": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": BUCKET, "endpoint_url": endpoint, "region_name": "eu-south-1",
                    "access_key": "k", "secret_key": "s", "location": "documents", "file_overwrite": False,
                    "default_acl": None},
    }}
    storages._storages.pop("documents", None)  # the handler caches instances
    yield boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="k", aws_secret_access_key="s",
                       region_name="eu-south-1")
    storages._storages.pop("documents", None)
    server.stop()


def test_documents_go_to_the_bucket_by_hash_once_and_come_back_checked(s3):
    sha = storage.put(b"%PDF-1.7 atto firmato")
    assert storage.put(b"%PDF-1.7 atto firmato") == sha  # stored once
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert keys == [f"documents/{sha[:2]}/{sha[2:4]}/{sha}"]
    assert storage.get(sha) == b"%PDF-1.7 atto firmato" and storage.exists(sha)

    s3.put_object(Bucket=BUCKET, Key=keys[0], Body=b"altered")  # tampered behind our back
    with pytest.raises(NotFound) as info:
        storage.get(sha)
    assert info.value.code == "corrupt_blob"
    with pytest.raises(NotFound):
        storage.get("0" * 64)
    assert not storage.exists("0" * 64)
