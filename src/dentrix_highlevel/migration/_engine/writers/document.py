"""Documents: upload a patient's readable document files through HighLevel's media API (``upload_documents``).

A document with a hosted URL is carried by the contact's Document Links field; one without a URL is, by
default, listed in "Documents To Re-upload". With the policy on, each such document whose file the export
holds (and which reads back intact: its real path inside the real ``documents/``, a regular file with one
link, at most 25 MB, the export's SHA-256 — a row without one is listed, not uploaded, unless the policy
``upload_unverified_documents`` opts in) is uploaded
*before* the patient's contact write, as ledger kind ``document`` (key ``document:<id>``) through
``ensure_object``. Its URL then goes into Document Links in the contact's one write, and it leaves the
re-upload list. The media file is named from the practice namespace and ids only
(``dentrix-document-<namespace>-<id>.<ext>``, e.g. ``dentrix-document-g-CVFD1-4711.pdf``), never the
description: that name is how an interrupted upload is found again, and the namespace keeps another
practice's document with the same id from matching. The digest is the file's SHA-256, so a
re-run uploads nothing; a changed file is uploaded again and the migration's old file deleted (its URL would
otherwise point at outdated clinical content, and nobody links to it any more). Every document of a
migrated patient ends in the audit log as created/unchanged, skipped (with the reason) or failed. An upload's
created-object parent is the patient's source key (``patient:<id>``), so a delta that deletes a patient gone
from the source (``removed_in_source="delete"``) deletes the patient's uploads with the contact.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import anyio
import attrs

from dentrix_highlevel._errors import DocumentFileError, LedgerError, NotFoundError, SourceError
from dentrix_highlevel.highlevel import HighLevelClient
from dentrix_highlevel.migration._engine.context import RunContext
from dentrix_highlevel.migration._engine.identity import namespace_slug
from dentrix_highlevel.migration._engine.writers.base import Writer, feature
from dentrix_highlevel.migration._engine.writers.contact import patient_key
from dentrix_highlevel.migration._state.audit import RecordAction, RecordOutcome
from dentrix_highlevel.migration._state.ledger import Ledger
from dentrix_highlevel.records import Document, PatientBundle

__all__ = [
    "DOCUMENT_KIND",
    "WRITER",
    "DocumentUploader",
    "document_key",
    "known_document_urls",
    "media_name",
    "source_document_count",
    "with_document_urls",
]

DOCUMENT_KIND = "document"
HOSTED_REASON = "hosted URL: carried over in Document Links (nothing to upload)"
NO_FILE_REASON = "no file in the export: listed for manual re-upload"
NO_FILES_SOURCE_REASON = (
    "the source holds no document files (Dentrix Ascend's API Exchange serves metadata only): "
    "listed for manual re-upload"
)
NOT_MIGRATED_REASON = "the patient is not migrated as a contact: not uploaded"
NO_CHECKSUM_REASON = "no checksum in the export; listed for manual re-upload"
#: Why a file was refused, by ``DocumentFileError.reason``: names the rule, never the path (it can hold a
#: patient's name); the record's key (``document:<id>``) names the export's row.
_REFUSALS = {
    "unsafe_path": "unsafe_path: its real path leaves the export's documents/ folder",
    "not_regular": "not_regular: not a regular file (a device, a pipe or a folder)",
    "hard_link": "hard_link: a hard link (its data has another name elsewhere)",
    "missing": "missing from the export's documents/ folder",
    "too_large": "too_large: over HighLevel's 25 MB upload limit",
    "checksum": "checksum: its SHA-256 differs from the export's",
}

_EXTENSIONS = {
    "application/pdf": "pdf",
    "image/jpeg": "jpg",
    "image/png": "png",
    "image/tiff": "tif",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "text/plain": "txt",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
}
_SAFE_EXT = re.compile(r"^[a-z0-9]{1,8}$")

Reader = Callable[[Document], bytes]


def document_key(document_id: str) -> str:
    return f"{DOCUMENT_KIND}:{document_id}"


def _extension(document: Document) -> str:
    by_type = _EXTENSIONS.get((document.mime_type or "").strip().lower())
    if by_type:
        return by_type
    path = (document.file_path or "").replace("\\", "/").rsplit("/", 1)[-1]
    ext = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return ext if _SAFE_EXT.match(ext) else "bin"


def media_name(document: Document, namespace: str = "") -> str:
    """The uploaded file's name: the practice namespace, ids and a file extension only (never the
    description or the path). The name is how an interrupted upload is found again, so it carries the
    namespace: two practices in one location have overlapping document ids."""
    practice = f"{namespace_slug(namespace)}-" if namespace else ""
    return f"dentrix-document-{practice}{document.document_id}.{_extension(document)}"


def _content_type(document: Document) -> str:
    mime = (document.mime_type or "").strip().lower()
    return mime if re.fullmatch(r"[a-z0-9.+-]+/[a-z0-9.+-]+", mime) else "application/octet-stream"


def with_document_urls(bundle: PatientBundle, urls: Mapping[str, str]) -> PatientBundle:
    """The bundle as the contact map should see it: uploaded documents carry their hosted URL, so they
    move from "Documents To Re-upload" to "Document Links" (the default map's rules, unchanged)."""
    if not urls:
        return bundle
    documents = tuple(
        attrs.evolve(d, url=urls[d.document_id]) if not d.url and d.document_id in urls else d
        for d in bundle.documents
    )
    return attrs.evolve(bundle, documents=documents)


def _uploaded_ids(ledger: Ledger) -> dict[str, str]:
    """media file id -> document id, for every document upload the ledger says the destination holds."""
    out: dict[str, str] = {}
    for rec in ledger.records(DOCUMENT_KIND):
        if rec.destination_id and rec.outcome is not RecordOutcome.NOT_APPLIED:
            out[rec.destination_id] = rec.source_key.removeprefix(f"{DOCUMENT_KIND}:")
    return out


async def _media_urls(hl: HighLevelClient, wanted: Iterable[str]) -> dict[str, str]:
    """media id -> URL for the wanted ids, from one pass over the location's file list."""
    wanted = set(wanted)
    out: dict[str, str] = {}
    if not wanted:
        return out
    async for item in hl.media.files(query="dentrix-document-"):
        if item.id in wanted and item.url:
            out[item.id] = item.url
            if len(out) == len(wanted):
                break
    return out


async def known_document_urls(hl: HighLevelClient, ledger: Ledger) -> dict[str, str]:
    """document id -> hosted URL of every upload the ledger records (reconcile compares with these)."""
    uploaded = await anyio.to_thread.run_sync(_uploaded_ids, ledger)
    urls = await _media_urls(hl, uploaded)
    return {uploaded[media_id]: url for media_id, url in urls.items()}


class DocumentUploader:
    """One run's document step. ``reader`` is the source's ``read_document`` (None: the source has no
    files, e.g. Ascend). The URLs of earlier uploads are read once per run, on first need."""

    def __init__(self, ctx: RunContext, reader: Reader | None) -> None:
        self._ctx = ctx
        self._reader = reader
        self._known: dict[str, str] = {}
        self._listed: set[str] = set()  # ids looked for in a listing already (a miss is not listed again)
        self._lock = anyio.Lock()

    async def skip_all(self, bundle: PatientBundle, reason: str = NOT_MIGRATED_REASON) -> None:
        """A patient whose contact is not written: each document is recorded skipped."""
        for document in bundle.documents:
            await self._skip(document, HOSTED_REASON if document.url else reason)

    async def upload(self, bundle: PatientBundle) -> dict[str, str]:
        """Upload the patient's documents that need it; returns document id -> URL for the contact."""
        urls: dict[str, str] = {}
        for document in bundle.documents:
            url = await self._one(document, patient_key(bundle.patient_id))
            if url is not None:
                urls[document.document_id] = url
        return urls

    async def _skip(self, document: Document, reason: str) -> None:
        await self._ctx.record(
            DOCUMENT_KIND,
            document_key(document.document_id),
            RecordAction.SKIPPED,
            RecordOutcome.NOT_APPLIED,
            reason=reason,
        )

    async def _one(self, document: Document, patient: str) -> str | None:
        ctx = self._ctx
        key = document_key(document.document_id)
        if document.url:
            await self._skip(document, HOSTED_REASON)
            return None
        if not document.file_path:
            await self._skip(document, NO_FILE_REASON)
            return None
        if self._reader is None:
            await self._skip(document, NO_FILES_SOURCE_REASON)
            return None
        if not (document.sha256 or "").strip() and not self._ctx.policies.upload_unverified_documents:
            # Without the export's checksum nothing ties the bytes on disk to the exported file: a person
            # checks and uploads it (the policy upload_unverified_documents opts out of this).
            await self._skip(document, NO_CHECKSUM_REASON)
            return None
        rec = await ctx.db(ctx.ledger.record, DOCUMENT_KIND, key)
        dest = await ctx.db(ctx.ledger.destination_of, DOCUMENT_KIND, key)
        try:
            content = await anyio.to_thread.run_sync(self._reader, document)
        except SourceError as exc:
            code = exc.reason if isinstance(exc, DocumentFileError) else "unreadable"
            why = _REFUSALS.get(code, code)
            if dest is not None and rec is not None and rec.outcome is not RecordOutcome.NOT_APPLIED:
                # The file went bad after it was uploaded: keep the earlier upload (and its URL).
                await ctx.record(
                    DOCUMENT_KIND,
                    key,
                    RecordAction.UNCHANGED,
                    RecordOutcome.APPLIED,
                    destination_id=dest,
                    digest=rec.content_hash,
                    reason=f"file now {why}: the earlier upload is kept",
                )
                return await self._url_of(dest)
            await self._skip(document, f"file {why}: not uploaded, listed for manual re-upload")
            return None
        digest = hashlib.sha256(content).hexdigest()
        if dest is not None and rec is not None and rec.content_hash not in (None, digest):
            await self._retire(dest)
        name = media_name(document, ctx.namespace)
        fresh: dict[str, str] = {}

        async def create() -> str:
            uploaded = await ctx.hl.media.upload(content, name=name, content_type=_content_type(document))
            if uploaded.url:
                fresh[uploaded.file_id] = uploaded.url
            return uploaded.file_id

        media_id = await ctx.ensure_object(
            kind=DOCUMENT_KIND,
            key=key,
            digest=digest,
            lookup={"name": name},
            create=create,
            update=None,
            # The patient's source key, not a destination id: the upload precedes the contact write, and a
            # delta deleting the patient (removed in source) finds the patient's uploads by it.
            parent_id=patient,
        )
        if media_id is None:
            return None  # refused: recorded failed by ensure_object; it stays in the re-upload list
        return fresh.get(media_id) or await self._url_of(media_id)

    async def _retire(self, media_id: str) -> None:
        """The file changed since it was uploaded: delete the migration's old copy (documented choice)."""
        ctx = self._ctx
        with contextlib.suppress(NotFoundError):
            await ctx.hl.media.delete(media_id)
        with contextlib.suppress(LedgerError):  # not ours after all: the ledger keeps no claim on it
            await ctx.db(ctx.ledger.mark_rolled_back, DOCUMENT_KIND, media_id)

    async def _url_of(self, media_id: str) -> str | None:
        async with self._lock:
            if media_id not in self._known and media_id not in self._listed:
                wanted = {*await self._ctx.db(_uploaded_ids, self._ctx.ledger), media_id}
                self._known.update(await _media_urls(self._ctx.hl, wanted))
                self._listed |= wanted
        return self._known.get(media_id)


def source_document_count(bundles: Iterable[PatientBundle], policies: Any) -> int:
    """How many ``document`` records a run accounts for (0 with the policy off)."""
    return sum(len(b.documents) for b in bundles) if getattr(policies, "upload_documents", False) else 0


async def _delete(ctx: RunContext, media_id: str, _parent: str | None) -> None:
    # An uploaded document file: DELETE /medias/{id}?altType=location&altId=<location>.
    await ctx.hl.media.delete(media_id)


FEATURE = feature(
    "document uploads",
    "upload document files to the media library; find an interrupted upload; rollback deletes them",
    "POST /medias/upload-file",
    "GET /medias/files",
    "DELETE /medias/{id}",
)


WRITER = Writer(
    kind=DOCUMENT_KIND,
    delete=_delete,
    count=lambda scope: source_document_count(scope.bundles, scope.policies),
    feature=FEATURE,
    in_plan=lambda policies, mapped: policies.upload_documents,
)
