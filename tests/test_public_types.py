"""Public types through the public API: their public path, typed signatures, ``httpx.Timeout``,
``ContactInput.from_payload`` and the one word for "everything reconciled"."""

from __future__ import annotations

import datetime as dt
import importlib
import inspect
import pickle
from pathlib import Path

import anyio
import httpx
import pytest

from dentrix_highlevel.errors import ConfigurationError, PlanError
from dentrix_highlevel.highlevel import ContactInput, CustomFieldValue, HighLevelClient, RateBudget
from dentrix_highlevel.mapping import DefaultMapOptions, FieldMap, default_maps
from dentrix_highlevel.migration import (
    Finished,
    KindReconciliation,
    MigrationProgress,
    Reconciliation,
    RunMode,
    RunResult,
    RunStatus,
)
from dentrix_highlevel.sources import GExportSource
from dentrix_highlevel.synth import SynthConfig, SyntheticPractice, write_g_export

#: The public namespaces (as in test_public_api).
NAMESPACES = (
    "dentrix_highlevel.errors",
    "dentrix_highlevel.records",
    "dentrix_highlevel.sources",
    "dentrix_highlevel.mapping",
    "dentrix_highlevel.highlevel",
    "dentrix_highlevel.migration",
    "dentrix_highlevel.fleet",
    "dentrix_highlevel.synth",
    "dentrix_highlevel.sandbox",
    "dentrix_highlevel.ascend_emulator",
)


def test_every_exported_class_reports_a_public_path() -> None:
    for namespace in NAMESPACES:
        importlib.import_module(namespace)
    wrong = []
    for namespace in NAMESPACES:
        module = importlib.import_module(namespace)
        for name in module.__all__:
            obj = getattr(module, name)
            if isinstance(obj, type) and obj.__module__ not in NAMESPACES:
                wrong.append((namespace, name, obj.__module__))
    assert wrong == []
    assert RunStatus.__module__ == "dentrix_highlevel.migration"
    assert PlanError.__module__ == "dentrix_highlevel.errors"


def test_public_types_still_pickle_and_compare() -> None:
    event = Finished(run_id="r1", mode=RunMode.RUN, phase="patients", total=2, done=2, reconciles=True)
    assert (
        pickle.loads(  # noqa: S301 - our own bytes
            pickle.dumps(event)
        )
        == event
    )
    assert (
        pickle.loads(  # noqa: S301 - our own bytes
            pickle.dumps(RunStatus.STOPPED)
        )
        is RunStatus.STOPPED
    )
    error = pickle.loads(  # noqa: S301 - our own bytes
        pickle.dumps(ConfigurationError("no location"))
    )
    assert type(error) is ConfigurationError
    assert "dentrix_highlevel.errors.ConfigurationError" in repr(type(error))


def test_the_signatures_named_in_the_issue_carry_no_any() -> None:
    # The annotations as written (strings: some name types imported for the type checker only).
    for function in (HighLevelClient.find_created, FieldMap.apply):
        written = inspect.get_annotations(function)
        assert all("Any" not in str(hint) for hint in written.values()), (function, written)
    assert inspect.get_annotations(HighLevelClient.find_created)["return"] == "FoundObject | None"
    from dentrix_highlevel.highlevel import FoundObject

    assert "Contact" in str(FoundObject)


def test_an_httpx_timeout_is_accepted_beside_timeout_s() -> None:
    timeout = httpx.Timeout(5.0, connect=2.0)
    client = HighLevelClient(location_id="loc", token="pit-x", timeout=timeout, budget=RateBudget())
    try:
        assert client._http.timeout == timeout
    finally:
        anyio.run(client.aclose)
    assert "timeout" in inspect.signature(HighLevelClient).parameters
    with pytest.raises(ConfigurationError, match="timeout="):
        HighLevelClient(location_id="loc", token="pit-x", timeout=timeout, http_client=httpx.AsyncClient())


def test_contact_input_from_the_maps_camelcase_payload(tmp_path: Path) -> None:
    export = tmp_path / "export"
    write_g_export(SyntheticPractice(SynthConfig(patients=3, seed=2)), export)
    maps = default_maps(DefaultMapOptions(as_of=dt.datetime(2025, 6, 30)))
    with GExportSource(export) as source:
        bundle = next(iter(source.iter_bundles()))
    payload = maps.contact.apply(bundle).payload
    contact = ContactInput.from_payload(payload)
    assert contact.first_name == payload.get("firstName")
    assert contact.last_name == payload.get("lastName")
    assert all(isinstance(v, CustomFieldValue) for v in contact.custom_fields or ())
    assert len(contact.custom_fields or ()) == len(payload.get("customFields", []))

    built = ContactInput.from_payload(
        {
            "locationId": "ignored",
            "postalCode": "97201",
            "customFields": [{"key": "contact.x", "field_value": "1"}],
        }
    )
    assert built.postal_code == "97201"
    assert built.custom_fields == (CustomFieldValue(key="contact.x", field_value="1"),)
    consent = ContactInput.from_payload({"dndSettings": {"SMS": {"status": "active"}}})
    assert consent.dnd_settings == {"SMS": {"status": "active"}}
    with pytest.raises(ConfigurationError, match="'nickname'"):
        ContactInput.from_payload({"nickname": "Ada"})


def test_ok_is_the_one_word_for_everything_reconciled() -> None:
    balanced = KindReconciliation(kind="contact", source=1, created=1)
    short = KindReconciliation(kind="note", source=2, created=1)
    good, bad = Reconciliation(kinds=(balanced,)), Reconciliation(kinds=(balanced, short))
    assert (good.ok, bad.ok) == (good.reconciles, bad.reconciles) == (True, False)
    assert balanced.ok
    assert not short.ok
    run = RunResult(run_id="r", mode=RunMode.RUN, status=RunStatus.COMPLETED, reconciliation=good)
    stopped = RunResult(run_id="r", mode=RunMode.RUN, status=RunStatus.STOPPED, reconciliation=good)
    assert run.ok
    assert not stopped.ok
    assert not RunResult(run_id="r", mode=RunMode.RUN, status=RunStatus.COMPLETED, reconciliation=bad).ok
    assert issubclass(Finished, MigrationProgress)
