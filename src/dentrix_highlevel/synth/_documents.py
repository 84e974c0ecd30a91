"""The bytes of a synthetic document's file: a tiny, valid PDF derived from (seed, document id) alone.

No random draw is spent on it (the practice's other records stay exactly as they were), the content names
only ids (no patient value), and the SHA-256 the practice records is the hash of these bytes, so an export
written from the practice verifies.
"""

from __future__ import annotations

import hashlib

__all__ = ["document_bytes", "document_sha256"]


def document_bytes(seed: int, document_id: str) -> bytes:
    """A one-page PDF (a few hundred bytes) whose text is the document id and the practice seed."""
    text = f"Synthetic document {document_id} (seed {seed})".encode("ascii")
    stream = b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def document_sha256(seed: int, document_id: str) -> str:
    return hashlib.sha256(document_bytes(seed, document_id)).hexdigest()
