"""The backup file: a tar archive with a manifest, encrypted with a passphrase in the age format.

The file is age (age-encryption.org/v1) with one scrypt recipient, made and opened by pyrage, so any
age implementation (`age -d`) opens it too. Inside is an uncompressed tar archive whose first member
is `manifest.json`:

    {"format": "praevnet-backup", "format_version": 1, "node_id": ..., "name": ..., "praevnet": <version>,
     "schema": <schema version>, "steps": [<names of the schema steps the database ran>],
     "created": <time>, "files": {<member>: {"size": n, "sha256": <hex>}, ...}}

followed by the node's files under their names in the home: praevnet.toml, node.key, praevnet.db,
keys/ed25519-N.key (keys after rotations) and networks/<network id>.key (keys of networks the node
operates). `open_archive` refuses, naming the problem, anything else: a member that is not a regular
file (a directory, a link, a device), a name outside that list (an absolute path, `..`), a member
twice, a manifest that does not list exactly the other members or whose size or hash of one differs.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
from collections.abc import Mapping
from typing import Any

import pyrage

from node.errors import NodeError
from protocol.errors import ProtocolError
from protocol.network import check_network_id

FORMAT = "praevnet-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
PASSPHRASE_ENV = "PRAEVNET_BACKUP_PASSPHRASE"  # noqa: S105 - the name of the variable, not a passphrase
"""The environment variable an unattended backup or restore reads the passphrase from."""
MIN_PASSPHRASE = 12
"""The fewest characters a new backup's passphrase may have: it protects the node's private keys."""
AGE_HEADER = b"age-encryption.org/v1\n"
_ROTATED_KEY = re.compile(r"keys/ed25519-([1-9][0-9]{0,5})\.key\Z")
_NETWORK_KEY = re.compile(r"networks/([^/]+)\.key\Z")
FIXED = frozenset({"praevnet.toml", "node.key", "praevnet.db"})
"""The members every backup holds besides the manifest."""


class BackupError(NodeError):
    """A backup that cannot be made or restored; the message names the problem and what to do."""


def check_passphrase(passphrase: str, *, new: bool) -> str:
    """The passphrase, if usable: never empty; a `new` one (for a backup being made) at least MIN_PASSPHRASE long."""
    if not passphrase.strip():
        raise BackupError("the passphrase is empty; a backup is always encrypted with a passphrase")
    if new and len(passphrase) < MIN_PASSPHRASE:
        raise BackupError(
            f"the passphrase has {len(passphrase)} characters; use at least {MIN_PASSPHRASE} "
            "(the backup holds the node's private keys)"
        )
    return passphrase


def member_allowed(name: str) -> bool:
    """Whether `name` is a file a backup may hold (besides the manifest)."""
    if name in FIXED:
        return True
    rotated = _ROTATED_KEY.match(name)
    if rotated is not None:
        return int(rotated.group(1)) >= 2
    network = _NETWORK_KEY.match(name)
    if network is None:
        return False
    try:
        check_network_id(network.group(1))
    except ProtocolError:
        return False
    return True


def sha256_hex(data: bytes) -> str:
    """The SHA-256 of `data` in hex, as the manifest lists it."""
    return hashlib.sha256(data).hexdigest()


def pack(manifest: Mapping[str, Any], files: Mapping[str, bytes], passphrase: str) -> bytes:
    """The encrypted backup: `manifest` (its `files` filled in here) and `files` in a tar archive, age-encrypted."""
    return bytes(pyrage.passphrase.encrypt(archive_bytes(manifest, files), passphrase))


def archive_bytes(manifest: Mapping[str, Any], files: Mapping[str, bytes]) -> bytes:
    """The tar archive of a backup before encryption: `manifest.json` (listing `files`) first, then `files`."""
    listed = {name: {"size": len(data), "sha256": sha256_hex(data)} for name, data in sorted(files.items())}
    whole = {**manifest, "files": listed}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for name, data in [(MANIFEST, json.dumps(whole, indent=1).encode()), *sorted(files.items())]:
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o600
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def decrypt(data: bytes, passphrase: str, where: str) -> bytes:
    """The tar archive inside an age-encrypted backup; BackupError naming what is wrong (not age, not a passphrase
    file, a wrong passphrase, a damaged or truncated file)."""
    if not data.startswith(AGE_HEADER):
        raise BackupError(f"{where} is not a praevnet backup (not an age-encrypted file)")
    first_stanza = data[len(AGE_HEADER) : len(AGE_HEADER) + 10]
    if not first_stanza.startswith(b"-> scrypt "):
        raise BackupError(f"{where} is encrypted to a key, not with a passphrase: it is not a praevnet backup")
    try:
        return bytes(pyrage.passphrase.decrypt(data, passphrase))
    except pyrage.DecryptError as exc:
        if str(exc) == "Decryption failed":  # the header's scrypt stanza did not open with this passphrase
            raise BackupError(f"the passphrase does not open {where} (or its header is damaged)") from None
        raise BackupError(f"{where} is damaged or truncated: {exc}") from None


def open_archive(plain: bytes, where: str) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The manifest and the files of a decrypted backup, every member checked against the manifest."""
    members: dict[str, bytes] = {}
    try:
        with tarfile.open(fileobj=io.BytesIO(plain), mode="r:") as archive:
            for info in archive:
                name = _checked_member(info, members, where)  # before anything of the member is read
                members[name] = _read(archive, info, where)
    except tarfile.TarError as exc:
        raise BackupError(f"{where} holds no readable archive: {exc}") from None
    if MANIFEST not in members:
        raise BackupError(f"{where} has no {MANIFEST}")
    manifest = _manifest(members.pop(MANIFEST), where)
    listed: Mapping[str, Any] = manifest["files"]
    for name in sorted(set(listed) ^ set(members)):
        state = "is listed in the manifest but missing" if name in listed else "is not listed in the manifest"
        raise BackupError(f"{where}: {name} {state}; the archive was altered")
    for name, data in members.items():
        entry = listed[name]
        if not isinstance(entry, Mapping) or entry.get("size") != len(data) or entry.get("sha256") != sha256_hex(data):
            raise BackupError(
                f"{where}: {name} does not match its size and SHA-256 in the manifest; the archive was altered"
            )
    for name in sorted(FIXED - set(members)):
        raise BackupError(f"{where} holds no {name}")
    return manifest, members


def _checked_member(info: tarfile.TarInfo, held: Mapping[str, bytes], where: str) -> str:
    name = info.name
    if not info.isreg():
        kind = "a symbolic link" if info.issym() else "a hard link" if info.islnk() else "not a regular file"
        raise BackupError(f"{where}: member {name!r} is {kind}; a backup holds only regular files")
    if name != MANIFEST and not member_allowed(name):
        raise BackupError(f"{where}: member {name!r} is not a file of a node's home; refusing the archive")
    if name in held:
        raise BackupError(f"{where}: member {name!r} appears twice; refusing the archive")
    if name == MANIFEST and held:
        raise BackupError(f"{where}: {MANIFEST} must be the archive's first member")
    return name


def _read(archive: tarfile.TarFile, info: tarfile.TarInfo, where: str) -> bytes:
    extracted = archive.extractfile(info)
    if extracted is None:
        raise BackupError(f"{where}: member {info.name!r} cannot be read")
    data = extracted.read()
    if len(data) != info.size:
        raise BackupError(f"{where}: member {info.name!r} is truncated")
    return data


def _manifest(data: bytes, where: str) -> dict[str, Any]:
    try:
        manifest = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise BackupError(f"{where}: {MANIFEST} is not JSON: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError(f"{where}: {MANIFEST} is not that of a praevnet backup")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise BackupError(
            f"{where} has backup format version {version!r}; this praevnet reads version {FORMAT_VERSION}"
            " (restore it with the praevnet that made it, or a newer one)"
        )
    for name, kind in (("node_id", str), ("name", str), ("schema", int), ("steps", list), ("files", dict)):
        if not isinstance(manifest.get(name), kind) or isinstance(manifest.get(name), bool):
            raise BackupError(f"{where}: {MANIFEST} has no valid {name!r}")
    return manifest
