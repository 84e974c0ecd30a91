"""Document uploads (``upload_documents``): the export's file reader, the upload step, delta and rollback."""

from __future__ import annotations

import csv
import hashlib
import itertools
import json
import os
import shutil
import stat
import zipfile
from pathlib import Path, PurePosixPath
from typing import Any

import attrs
import pytest
from tests.migration._engine_helpers import (
    client,
    edit_patients,
    export,
    normalised,
    scaled_sandbox,
    source,
)

from dentrix_highlevel.errors import DocumentFileError, SourceError
from dentrix_highlevel.migration import (
    Migration,
    MigrationPolicies,
    RemovedInSourcePolicy,
    RunMode,
    RunStatus,
)
from dentrix_highlevel.migration._engine.writers.document import document_key
from dentrix_highlevel.migration._engine.writers.document import media_name as _media_name
from dentrix_highlevel.migration._plan.migration_plan import build_plan
from dentrix_highlevel.records import Document, PatientBundle
from dentrix_highlevel.sandbox import Sandbox
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

pytestmark = pytest.mark.anyio

UPLOAD = MigrationPolicies(upload_documents=True, calendar_name=None, pipeline_name=None)
SEED = 5  # 20 patients: 10 documents, 7 of them with a file in the export


def _bundles(path: Path) -> list[PatientBundle]:
    with GExportSource(path) as staged:
        return list(staged.iter_bundles())


def _documents(path: Path) -> list[Document]:
    return [d for b in _bundles(path) for d in b.documents]


def _field(sandbox: Sandbox, location_id: str, name: str) -> str:
    fields = sandbox.location(location_id).custom_fields.values()
    return next(f["id"] for f in fields if f["name"] == name)


def _value(contact: dict[str, Any], field_id: str) -> str:
    return str(
        next((c.get("value") for c in contact.get("customFields", []) if c["id"] == field_id), "") or ""
    )


def _uploads(sandbox: Sandbox) -> list[Any]:
    return [r for r in sandbox.request_log if r.method == "POST" and r.path == "/medias/upload-file"]


def _set_document_column(path: Path, doc_id: str, column: str, value: str) -> None:
    file = path / "document.csv"
    with file.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.DictReader(handle)
        fields = list(reader.fieldnames or [])
        rows = list(reader)
    for row in rows:
        if row["docid"].strip() == doc_id:
            row[column] = value
    with file.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


# --- the export's file reader ----------------------------------------------------------------------------


def test_synthetic_exports_carry_verifiable_files_in_folder_and_zip(tmp_path: Path) -> None:
    practice = SyntheticPractice(SynthConfig(patients=20, seed=SEED))
    for target in (tmp_path / "folder", tmp_path / "export.zip"):
        write_g_export(practice, target)
        with GExportSource(target) as staged:
            docs = [d for b in staged.iter_bundles() for d in b.documents if d.file_path]
            assert len(docs) == 7
            for doc in docs:
                data = staged.read_document(doc)
                assert data.startswith(b"%PDF-1.4")
                assert hashlib.sha256(data).hexdigest() == doc.sha256
            with pytest.raises(DocumentFileError) as large:
                staged.read_document(docs[0], max_bytes=100)
            assert large.value.reason == "too_large"
    with zipfile.ZipFile(tmp_path / "export.zip") as zf:
        assert any(n.startswith("documents/") for n in zf.namelist())


def test_read_document_refuses_unsafe_missing_large_and_mismatching_files(tmp_path: Path) -> None:
    path = export(tmp_path, patients=20, seed=SEED)
    (tmp_path / "outside.pdf").write_bytes(b"secret")
    doc = next(d for d in _documents(path) if d.file_path)
    os.symlink(tmp_path / "outside.pdf", path / "documents" / "link.pdf")
    cases = {
        "../outside.pdf": "unsafe_path",
        "documents/../../outside.pdf": "unsafe_path",
        "/etc/passwd": "unsafe_path",
        "C:\\Dentrix\\Smith_John.pdf": "unsafe_path",
        "link.pdf": "unsafe_path",
        "documents/nowhere/Smith_John.pdf": "missing",
    }
    with GExportSource(path) as staged:
        for file_path, reason in cases.items():
            with pytest.raises(DocumentFileError) as caught:
                staged.read_document(Document(document_id="77", patient_id="1", file_path=file_path))
            assert caught.value.reason == reason, file_path
            assert "document 77" in str(caught.value)
            assert "Smith" not in str(caught.value)
            assert "outside" not in str(caught.value)
            assert isinstance(caught.value, SourceError)
        with pytest.raises(DocumentFileError) as large:
            staged.read_document(doc, max_bytes=100)
        assert large.value.reason == "too_large"
        with pytest.raises(DocumentFileError) as bad:
            staged.read_document(
                Document(document_id="78", patient_id="1", file_path=doc.file_path, sha256="0" * 64)
            )
        assert bad.value.reason == "checksum"
        # A Windows-style relative path inside documents/ is fine.
        assert staged.read_document(attrs.evolve(doc, file_path=(doc.file_path or "").replace("/", "\\")))


def test_policy_serialises_only_when_chosen() -> None:
    assert "upload_documents" not in MigrationPolicies().to_dict()
    assert MigrationPolicies(upload_documents=True).to_dict()["upload_documents"] is True
    doc = Document(document_id="9", patient_id="1", description="Smith X-ray", mime_type="image/png")
    assert _media_name(doc) == "dentrix-document-9.png"
    # The engine names uploads inside the practice namespace: another practice's document 9 differs.
    assert media_name(doc) == "dentrix-document-g-CVFD1-9.png"
    assert _media_name(doc, "ascend:org-7") == "dentrix-document-ascend-org-7-9.png"


def media_name(document: Document) -> str:
    """The name the engine gives an upload of the synthetic practice (namespace ``g:CVFD1``)."""
    return _media_name(document, "g:CVFD1")


# --- the engine -------------------------------------------------------------------------------------------


async def test_run_uploads_before_the_contact_write_reruns_nothing_and_rolls_back(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=20, seed=SEED)
    bundles = _bundles(practice)
    with_file = {
        d.document_id: b.patient_id for b in bundles for d in b.documents if d.file_path and not d.url
    }
    total = sum(len(b.documents) for b in bundles)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    before = normalised(sandbox.dump())
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=UPLOAD, concurrency=1) as migration,
    ):
        migration.approve(by="manager")
        result = await migration.run()
        assert result.status is RunStatus.COMPLETED
        assert result.reconciliation.reconciles, result.reconciliation.render()
        kind = result.reconciliation.kind("document")
        assert kind is not None
        assert kind.source == total
        media = sandbox.location(loc.location_id).media
        assert len(media) == len(with_file)
        assert sorted(m["name"] for m in media.values()) == sorted(
            f"dentrix-document-g-CVFD1-{i}.pdf" for i in with_file
        )
        # Each upload precedes its patient's single contact write, and its URL rides in that write.
        log = [(r.method, r.path) for r in sandbox.request_log]
        links, reupload = (
            _field(sandbox, loc.location_id, "Document Links"),
            _field(sandbox, loc.location_id, "Documents To Re-upload"),
        )
        contacts = {
            _value(c, _field(sandbox, loc.location_id, "Source System ID")): c
            for c in sandbox.location(loc.location_id).contacts.values()
        }
        by_name = {m["name"]: m for m in media.values()}
        for doc_id, patient_id in with_file.items():
            contact = contacts[patient_id]
            url = by_name[f"dentrix-document-g-CVFD1-{doc_id}.pdf"]["url"]
            assert url in _value(contact, links)
            assert f"document {doc_id} " not in _value(contact, reupload) + " "
        writes = [
            (m, p)
            for m, p in log
            if p == "/medias/upload-file"
            or (m, p) in (("POST", "/contacts/upsert"), ("POST", "/contacts/"))
            or (m == "PUT" and p.startswith("/contacts/") and p.count("/") == 2)
        ]
        contact_writes = [w for w in writes if w[1] != "/medias/upload-file"]
        assert len(contact_writes) == len(bundles), "one contact write per patient, none extra for the URLs"
        # One patient at a time (concurrency=1): its uploads come right before its contact write.
        assert writes[-1][1] != "/medias/upload-file"
        for here, after in itertools.pairwise(writes):
            if here[1] == "/medias/upload-file":
                assert after[1] in ("/medias/upload-file", "/contacts/upsert", "/contacts/")
        rows = [json.loads(line) for line in result.audit_jsonl.read_text().splitlines()]
        docs = {r["source_key"]: r for r in rows if r["kind"] == "document"}
        assert len(docs) == total
        assert all(docs[document_key(i)]["action"] == "created" for i in with_file)
        skipped = [r for r in docs.values() if r["action"] == "skipped"]
        assert skipped
        assert all("hosted URL" in r["reason"] for r in skipped)

        uploads = len(_uploads(sandbox))
        mark = len(sandbox.request_log)
        again = await migration.run()
        assert again.reconciliation.reconciles
        assert len(_uploads(sandbox)) == uploads, "a re-run uploads nothing again"
        assert not [
            r for r in sandbox.request_log[mark:] if r.method in ("POST", "PUT") and "search" not in r.path
        ]
        checked = await migration.reconcile()
        assert checked.ok, checked.mismatches

        await migration.rollback()
    assert sandbox.location(loc.location_id).media == {}
    assert normalised(sandbox.dump()) == before


async def test_unreadable_files_are_skipped_with_a_reason_and_stay_listed(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=20, seed=SEED)
    docs = [d for d in _documents(practice) if d.file_path and not d.url]
    corrupt, gone = docs[0], docs[1]
    (practice / "documents" / Path(corrupt.file_path or "").relative_to("documents")).write_bytes(b"changed")
    (practice / "documents" / Path(gone.file_path or "").relative_to("documents")).unlink()
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=UPLOAD) as migration,
    ):
        migration.approve(by="manager")
        result = await migration.run()
        assert result.reconciliation.reconciles, result.reconciliation.render()
        rows = {
            r["source_key"]: r
            for r in map(json.loads, result.audit_jsonl.read_text().splitlines())
            if r["kind"] == "document"
        }
        assert rows[document_key(corrupt.document_id)]["action"] == "skipped"
        assert "checksum" in rows[document_key(corrupt.document_id)]["reason"]
        assert "missing" in rows[document_key(gone.document_id)]["reason"]
        assert len(sandbox.location(loc.location_id).media) == len(docs) - 2
        reupload = _field(sandbox, loc.location_id, "Documents To Re-upload")
        listed = " ".join(_value(c, reupload) for c in sandbox.location(loc.location_id).contacts.values())
        assert f"document {corrupt.document_id} " in listed
        assert f"document {gone.document_id} " in listed


async def test_delta_reuploads_a_changed_file_and_deletes_the_old_one(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=20, seed=SEED)
    doc = next(d for d in _documents(practice) if d.file_path and not d.url)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=UPLOAD) as migration,
    ):
        migration.approve(by="manager")
        await migration.run()
        media = sandbox.location(loc.location_id).media
        count = len(media)
        old = next(i for i, m in media.items() if m["name"] == media_name(doc))
        content = b"%PDF-1.4 rescanned"
        (practice / "documents" / Path(doc.file_path or "").relative_to("documents")).write_bytes(content)
        _set_document_column(practice, doc.document_id, "sha256", hashlib.sha256(content).hexdigest())
        uploads = len(_uploads(sandbox))
        result = await migration.delta(source(practice))
        assert result.status is RunStatus.COMPLETED
        assert result.reconciliation.reconciles, result.reconciliation.render()
        assert len(_uploads(sandbox)) == uploads + 1
        assert old not in media
        assert len(media) == count
        new = next(m for m in media.values() if m["name"] == media_name(doc))
        assert new["sha256"] == hashlib.sha256(content).hexdigest()
        checked = await migration.reconcile()
        assert checked.ok, checked.mismatches


async def test_an_interrupted_upload_is_found_by_name_not_sent_twice(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=20, seed=SEED)
    doc = next(d for d in _documents(practice) if d.file_path and not d.url)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=UPLOAD) as migration,
    ):
        migration.approve(by="manager")
        # A process died after HighLevel stored the file and before the ledger learnt its id.
        run = migration.ledger.begin_run(RunMode.RUN)
        migration.ledger.begin_intent(
            "document", document_key(doc.document_id), "create", {"name": media_name(doc)}, run_id=run.run_id
        )
        with GExportSource(practice) as staged:
            await hl.media.upload(
                staged.read_document(doc), name=media_name(doc), content_type="application/pdf"
            )
        result = await migration.run()
        assert result.status is RunStatus.COMPLETED
        names = [m["name"] for m in sandbox.location(loc.location_id).media.values()]
        assert names.count(media_name(doc)) == 1
        checked = await migration.reconcile()
        assert checked.ok, checked.mismatches
        await migration.rollback()
    assert sandbox.location(loc.location_id).media == {}


class _NoFiles:
    """A source without document files (as Ascend): bundles only."""

    def __init__(self, inner: GExportSource) -> None:
        self._inner = inner
        self.source_fingerprint = "ascend:test-org"

    async def open(self) -> None:
        await self._inner.open()

    def bundles(self, **kwargs: Any) -> Any:
        return self._inner.bundles(**kwargs)

    @property
    def practice_timezone(self) -> str:
        return self._inner.practice_timezone


async def test_a_source_without_files_keeps_documents_listed_and_says_why(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=20, seed=SEED)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        Migration(_NoFiles(source(practice)), hl, workdir=tmp_path / "wd", policies=UPLOAD) as migration,
    ):
        migration.approve(by="manager")
        result = await migration.run()
        assert result.reconciliation.reconciles, result.reconciliation.render()
        assert sandbox.location(loc.location_id).media == {}
        reasons = {
            r["reason"]
            for r in map(json.loads, result.audit_jsonl.read_text().splitlines())
            if r["kind"] == "document"
        }
        assert any("Ascend" in (r or "") for r in reasons)


# --- the plan ---------------------------------------------------------------------------------------------


async def test_plan_counts_uploads_and_manual_reuploads(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=20, seed=SEED)
    async with GExportSource(practice) as staged:
        off = await build_plan(staged, policies=MigrationPolicies(calendar_name=None, pipeline_name=None))
        on = await build_plan(staged, policies=UPLOAD)
    assert off.documents is not None
    assert on.documents is not None
    assert (on.documents.total, on.documents.upload, on.documents.hosted) == (10, 7, 3)
    assert on.estimate.requests["documents"] == 7
    assert "documents" not in off.estimate.requests
    assert off.documents.upload == 0
    assert off.documents.manual == {"policy upload_documents is off": 7}
    text = on.to_markdown()
    assert "## Documents" in text
    assert "7 to upload through HighLevel's media API" in text
    assert on.estimate.total_requests == off.estimate.total_requests + 7


async def test_a_file_gone_bad_after_its_upload_keeps_the_upload(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=20, seed=SEED)
    doc = next(d for d in _documents(practice) if d.file_path and not d.url)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=UPLOAD) as migration,
    ):
        migration.approve(by="manager")
        await migration.run()
        media = dict(sandbox.location(loc.location_id).media)
        (practice / "documents" / Path(doc.file_path or "").relative_to("documents")).unlink()
        mark = len(sandbox.request_log)
        again = await migration.run()
        assert again.reconciliation.reconciles, again.reconciliation.render()
        row = next(
            r
            for r in map(json.loads, again.audit_jsonl.read_text().splitlines())
            if r["source_key"] == document_key(doc.document_id)
        )
        assert row["action"] == "unchanged"
        assert "earlier upload is kept" in row["reason"]
        assert sandbox.location(loc.location_id).media == media
        writes = [r for r in sandbox.request_log[mark:] if r.method in ("POST", "PUT", "DELETE")]
        assert [r.path for r in writes if "search" not in r.path] == []


async def test_a_delta_deleting_a_removed_patient_deletes_their_uploads_too(tmp_path: Path) -> None:
    monday = export(tmp_path, patients=20, seed=SEED, name="monday")
    bundles = _bundles(monday)
    guarantors = {b.patient.guarantor_id for b in bundles}
    # The patient with the most uploads who is nobody's guarantor (no family link hangs off them).
    gone = max(
        (b for b in bundles if b.patient_id not in guarantors),
        key=lambda b: sum(1 for d in b.documents if d.file_path and not d.url),
    )
    names = {media_name(d) for d in gone.documents if d.file_path and not d.url}
    tuesday = tmp_path / "tuesday"
    shutil.copytree(monday, tuesday)
    edit_patients(tuesday, {}, drop=(gone.patient_id,))
    policies = attrs.evolve(UPLOAD, removed_in_source=RemovedInSourcePolicy.DELETE)
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(monday), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        await migration.run()
        listed = {f.name: f.id for f in [f async for f in hl.media.files()]}
        assert names <= set(listed)
        ids = {listed[n] for n in names}

        result = await migration.delta(source(tuesday))
        assert result.status is RunStatus.COMPLETED
        assert result.reconciliation.reconciles, result.reconciliation.render()
        remaining = {f.id for f in [f async for f in hl.media.files()]}
        assert not ids & remaining
        assert len(remaining) == len(listed) - len(ids), "only the removed patient's uploads went"
        row = next(
            r
            for r in migration.ledger.audit_rows(run_id=result.run_id)
            if r.source_key == f"patient:{gone.patient_id}"
        )
        assert f"{len(ids)} uploaded document(s) deleted" in (row.reason or "")
        assert not ids & {o.destination_id for o in migration.ledger.created_objects()}
        checked = await migration.reconcile()
        assert checked.mismatches == ()
        documents = checked.reconciliation.kind("document")
        assert documents is not None
        assert documents.reconciles, documents

        mark = len(sandbox.request_log)
        await migration.rollback()
        deletes = [r.path for r in sandbox.request_log[mark:] if r.method == "DELETE"]
        assert not [p for p in deletes if p.removeprefix("/medias/") in ids], "rollback does not retry them"
    assert sandbox.location(loc.location_id).media == {}


# --- containment: only the export's own, verified files leave the machine --------------------------------

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY-----\nnot a real key\n-----END OPENSSH PRIVATE KEY-----\n"


def _victim(practice: Path) -> Document:
    return next(d for d in _documents(practice) if d.file_path and not d.url)


def _home(tmp_path: Path) -> Path:
    """A stand-in home directory outside the export holding a private key."""
    ssh = tmp_path / "home" / ".ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_rsa").write_bytes(SECRET)
    return tmp_path / "home"


def _retarget(practice: Path, doc: Document, file_path: str, content: bytes) -> None:
    """Point the document's row at ``file_path`` with the SHA-256 of ``content``: the checksum matches, so
    only the containment rules stand between the file and HighLevel."""
    _set_document_column(practice, doc.document_id, "file_path", file_path)
    _set_document_column(practice, doc.document_id, "sha256", hashlib.sha256(content).hexdigest())


def _own_file(practice: Path, doc: Document) -> Path:
    return practice.joinpath(*PurePosixPath(doc.file_path or "").parts)


def _symlinked_documents(tmp_path: Path, practice: Path, doc: Document) -> bytes:
    shutil.rmtree(practice / "documents")
    os.symlink(_home(tmp_path) / ".ssh", practice / "documents")
    _retarget(practice, doc, "documents/id_rsa", SECRET)
    return SECRET


def _documents_linked_to_a_parent(tmp_path: Path, practice: Path, doc: Document) -> bytes:
    # documents -> .. : the export's parent folder (and everything below it) looks like documents/.
    _home(tmp_path)
    shutil.rmtree(practice / "documents")
    os.symlink("..", practice / "documents")
    _retarget(practice, doc, "documents/home/.ssh/id_rsa", SECRET)
    return SECRET


def _symlinked_parent_folder(tmp_path: Path, practice: Path, doc: Document) -> bytes:
    # The file's own folder inside a real documents/ is a link out of the export.
    folder = _own_file(practice, doc).parent
    shutil.rmtree(folder)
    os.symlink(_home(tmp_path) / ".ssh", folder)
    _retarget(practice, doc, f"{PurePosixPath(doc.file_path or '').parent}/id_rsa", SECRET)
    return SECRET


def _symlink_file(tmp_path: Path, practice: Path, doc: Document) -> bytes:
    own = _own_file(practice, doc)
    own.unlink()
    os.symlink(_home(tmp_path) / ".ssh" / "id_rsa", own)
    _retarget(practice, doc, doc.file_path or "", SECRET)
    return SECRET


def _hard_link(tmp_path: Path, practice: Path, doc: Document) -> bytes:
    own = _own_file(practice, doc)
    own.unlink()
    os.link(_home(tmp_path) / ".ssh" / "id_rsa", own)
    _retarget(practice, doc, doc.file_path or "", SECRET)
    return SECRET


def _proc_environ(tmp_path: Path, practice: Path, doc: Document) -> bytes:
    # documents -> /proc/self: the migrating process's own environment (which holds HIGHLEVEL_TOKEN).
    shutil.rmtree(practice / "documents")
    os.symlink("/proc/self", practice / "documents")
    environ = Path("/proc/self/environ").read_bytes()
    _retarget(practice, doc, "documents/environ", environ)
    return environ


def _proc_environ_file_link(tmp_path: Path, practice: Path, doc: Document) -> bytes:
    own = _own_file(practice, doc)
    own.unlink()
    os.symlink("/proc/self/environ", own)
    environ = Path("/proc/self/environ").read_bytes()
    _retarget(practice, doc, doc.file_path or "", environ)
    return environ


def _dev_null_link(tmp_path: Path, practice: Path, doc: Document) -> bytes:
    own = _own_file(practice, doc)
    own.unlink()
    os.symlink("/dev/null", own)
    _retarget(practice, doc, doc.file_path or "", b"")
    return b""


def _fifo(tmp_path: Path, practice: Path, doc: Document) -> bytes:
    # A named pipe inside documents/: opening it must neither hang nor read what a writer sends.
    own = _own_file(practice, doc)
    own.unlink()
    os.mkfifo(own)
    _retarget(practice, doc, doc.file_path or "", b"")
    return b""


ESCAPES = {
    "symlinked_documents": (_symlinked_documents, "unsafe_path"),
    "documents_linked_to_a_parent": (_documents_linked_to_a_parent, "unsafe_path"),
    "symlinked_parent_folder": (_symlinked_parent_folder, "unsafe_path"),
    "symlink_file": (_symlink_file, "unsafe_path"),
    "hard_link": (_hard_link, "hard_link"),
    "proc_self_environ": (_proc_environ, "unsafe_path"),
    "proc_self_environ_file_link": (_proc_environ_file_link, "unsafe_path"),
    "dev_null_link": (_dev_null_link, "unsafe_path"),
    "fifo": (_fifo, "not_regular"),
}


async def _migrate(
    tmp_path: Path, practice: Path, policies: MigrationPolicies = UPLOAD
) -> tuple[dict[str, dict[str, Any]], Sandbox, str]:
    sandbox = scaled_sandbox()
    loc = sandbox.create_location()
    async with (
        client(sandbox, loc) as hl,
        Migration(source(practice), hl, workdir=tmp_path / "wd", policies=policies) as migration,
    ):
        migration.approve(by="manager")
        result = await migration.run()
        assert result.status is RunStatus.COMPLETED
        rows = {
            r["source_key"]: r
            for r in map(json.loads, result.audit_jsonl.read_text().splitlines())
            if r["kind"] == "document"
        }
    return rows, sandbox, loc.location_id


@pytest.mark.parametrize("escape", sorted(ESCAPES))
async def test_a_file_escaping_the_export_is_not_uploaded_and_says_why(tmp_path: Path, escape: str) -> None:
    practice = export(tmp_path, patients=20, seed=SEED)
    doc = _victim(practice)
    build, code = ESCAPES[escape]
    content = build(tmp_path, practice, doc)
    rows, sandbox, location_id = await _migrate(tmp_path, practice)
    media = sandbox.location(location_id).media.values()
    assert media_name(doc) not in {m["name"] for m in media}
    assert hashlib.sha256(content).hexdigest() not in {m.get("sha256") for m in media}
    row = rows[document_key(doc.document_id)]
    assert (row["action"], row["outcome"]) == ("skipped", "not_applied")
    assert code in row["reason"], row["reason"]
    assert "manual re-upload" in row["reason"]
    # The reason names the rule, never the path (file names can hold a patient's name) nor the content.
    assert "id_rsa" not in row["reason"]
    assert "environ" not in row["reason"]
    reupload = _field(sandbox, location_id, "Documents To Re-upload")
    listed = " ".join(_value(c, reupload) for c in sandbox.location(location_id).contacts.values())
    assert f"document {doc.document_id} " in listed


def test_read_document_refuses_a_device_file_inside_documents(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=20, seed=SEED)
    doc = _victim(practice)
    own = _own_file(practice, doc)
    own.unlink()
    try:
        os.mknod(own, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    except (PermissionError, AttributeError):
        pytest.skip("creating a device node needs CAP_MKNOD")
    with GExportSource(practice) as staged, pytest.raises(DocumentFileError) as caught:
        staged.read_document(attrs.evolve(doc, sha256=hashlib.sha256(b"").hexdigest()))
    assert caught.value.reason == "not_regular"


async def test_a_document_without_a_checksum_is_listed_not_uploaded_unless_opted_in(tmp_path: Path) -> None:
    practice = export(tmp_path, patients=20, seed=SEED)
    doc = _victim(practice)
    _set_document_column(practice, doc.document_id, "sha256", "")
    async with GExportSource(practice) as staged:
        plan = await build_plan(staged, policies=UPLOAD)
    assert plan.documents is not None
    assert plan.documents.manual == {"no checksum in the export": 1}

    rows, sandbox, location_id = await _migrate(tmp_path, practice)
    row = rows[document_key(doc.document_id)]
    assert (row["action"], row["outcome"]) == ("skipped", "not_applied")
    assert row["reason"] == "no checksum in the export; listed for manual re-upload"
    assert media_name(doc) not in {m["name"] for m in sandbox.location(location_id).media.values()}
    reupload = _field(sandbox, location_id, "Documents To Re-upload")
    listed = " ".join(_value(c, reupload) for c in sandbox.location(location_id).contacts.values())
    assert f"document {doc.document_id} " in listed

    opted = attrs.evolve(UPLOAD, upload_unverified_documents=True)
    assert opted.to_dict()["upload_unverified_documents"] is True
    assert "upload_unverified_documents" not in UPLOAD.to_dict(), "the default leaves the plan hash alone"
    rows, sandbox, location_id = await _migrate(tmp_path / "opted", practice, opted)
    assert rows[document_key(doc.document_id)]["action"] == "created"
    assert media_name(doc) in {m["name"] for m in sandbox.location(location_id).media.values()}
