"""Credentials come from the environment, else the lean CLI's file; plain HTTP only to loopback."""

import json
import re
from pathlib import Path

import pytest

from pipelines.qc.client import QuantConnectClient, refuse_plain_http
from pipelines.qc.credentials import CredentialsError, find_credentials

TOKEN = "secret-token-from-a-test"


def lean_file(directory: Path, content: object) -> Path:
    path = directory / ".lean" / "credentials"
    path.parent.mkdir(parents=True)
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


def test_the_environment_wins_over_the_lean_file(tmp_path: Path):
    path = lean_file(tmp_path, {"user-id": "2", "api-token": "file-token"})
    found = find_credentials({"QC_USER_ID": "1", "QC_API_TOKEN": TOKEN}, path)
    assert (found.user_id, found.api_token) == ("1", TOKEN)
    assert "environment" in found.source
    assert TOKEN not in repr(found)


def test_without_the_environment_the_lean_file_is_read(tmp_path: Path):
    path = lean_file(tmp_path, {"user-id": "2", "api-token": " file-token\n"})
    found = find_credentials({}, path)
    assert (found.user_id, found.api_token) == ("2", "file-token")
    assert str(path) in found.source


def test_half_set_environment_names_the_missing_variable(tmp_path: Path):
    with pytest.raises(CredentialsError, match="QC_API_TOKEN is not set"):
        find_credentials({"QC_USER_ID": "1"}, tmp_path / "none")
    with pytest.raises(CredentialsError, match="QC_USER_ID is not set"):
        find_credentials({"QC_API_TOKEN": TOKEN}, tmp_path / "none")


def test_no_credentials_anywhere_says_where_they_were_looked_for(tmp_path: Path):
    with pytest.raises(CredentialsError, match=r"QC_USER_ID and QC_API_TOKEN.*lean login"):
        find_credentials({}, tmp_path / "none")


@pytest.mark.parametrize(
    "content",
    [f'{{"user-id": "1", "api-token": "{TOKEN}"', {"user-id": "1"}, {"api-token": TOKEN}, [TOKEN]],
    ids=["broken-json", "no-token", "no-user", "a-list"],
)
def test_a_bad_lean_file_fails_clearly_without_echoing_it(tmp_path: Path, content: object):
    path = lean_file(tmp_path, content)
    with pytest.raises(CredentialsError, match=re.escape(str(path))) as failure:
        find_credentials({}, path)
    assert TOKEN not in str(failure.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://www.quantconnect.com/api/v2/",
        "http://127.0.0.1:8765/api/v2/",
        "http://127.8.0.1/api/v2/",
        "http://localhost:1/",
        "http://[::1]:80/api/v2/",
    ],
)
def test_https_or_loopback_urls_are_accepted(url: str):
    refuse_plain_http(url)


@pytest.mark.parametrize(
    "url",
    [
        "http://www.quantconnect.com/api/v2/",
        "http://10.0.0.5/api/v2/",
        "ftp://127.0.0.1/",
        "www.quantconnect.com/api/v2/",
        "https:///api/v2/",
    ],
)
def test_plain_http_to_anything_but_loopback_is_refused(url: str):
    with pytest.raises(ValueError, match="use https://"):
        QuantConnectClient("1", TOKEN, base_url=url)
