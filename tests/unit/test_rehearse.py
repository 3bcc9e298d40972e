"""`clickflow deploy --local`: the package read as Managed Flink reads it (the run options, the property
groups), before anything runs. The run itself is tests/integration/test_cluster.py's."""

from __future__ import annotations

import json
import zipfile

import pytest

from clickflow.msf import rehearse
from clickflow.msf.package import MANIFEST, RUN_OPTIONS_GROUP
from connectors.config import load_config

RUN_OPTIONS = {"PropertyGroupId": RUN_OPTIONS_GROUP, "PropertyMap": {"python": "main.py", "jarfile": "lib/app.jar"}}
JOB = {"PropertyGroupId": "job", "PropertyMap": {"start_position": "latest"}}


def make_zip(path, groups, files=("main.py", "lib/app.jar")):
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(MANIFEST, json.dumps({"property_groups": groups}))
        for name in files:
            archive.writestr(name, "x")
    return path


def test_a_whole_package_unpacks_and_gives_its_run_options(tmp_path):
    options = rehearse.unpack(make_zip(tmp_path / "app.zip", [RUN_OPTIONS, JOB]), tmp_path / "run")
    assert options == {"python": "main.py", "jarfile": "lib/app.jar"}
    assert (tmp_path / "run" / "lib" / "app.jar").is_file()


def test_a_jarfile_not_in_the_zip_is_what_the_service_would_fail_on(tmp_path):
    package = make_zip(tmp_path / "app.zip", [RUN_OPTIONS], files=("main.py",))
    with pytest.raises(rehearse.RehearsalError) as error:
        rehearse.unpack(package, tmp_path / "run")
    message = str(error.value)
    assert f"{RUN_OPTIONS_GROUP}.jarfile is 'lib/app.jar', which is not in the zip" in message
    assert "Managed Flink would fail" in message


def test_no_run_options_group_names_the_group(tmp_path):
    with pytest.raises(rehearse.RehearsalError, match=f"no {RUN_OPTIONS_GROUP} group"):
        rehearse.unpack(make_zip(tmp_path / "app.zip", [JOB]), tmp_path / "run")


def test_a_run_options_group_without_the_entry_point_names_the_key(tmp_path):
    groups = [{"PropertyGroupId": RUN_OPTIONS_GROUP, "PropertyMap": {"jarfile": "lib/app.jar"}}]
    with pytest.raises(rehearse.RehearsalError, match="has no 'python'"):
        rehearse.unpack(make_zip(tmp_path / "app.zip", groups), tmp_path / "run")


def test_not_a_zip_and_no_zip_say_so(tmp_path):
    (tmp_path / "app.zip").write_text("not a zip")
    with pytest.raises(rehearse.RehearsalError, match="not a zip file"):
        rehearse.unpack(tmp_path / "app.zip", tmp_path / "run")
    with pytest.raises(rehearse.RehearsalError, match="no such file"):
        rehearse.unpack(tmp_path / "absent.zip", tmp_path / "run2")


def test_from_sets_the_start_position_in_a_copy_of_the_groups():
    groups = [RUN_OPTIONS, JOB]
    changed = rehearse.with_start(groups, "trim_horizon")
    assert next(g for g in changed if g["PropertyGroupId"] == "job")["PropertyMap"]["start_position"] == "trim_horizon"
    assert JOB["PropertyMap"]["start_position"] == "latest"  # the package's own groups are not touched
    assert rehearse.with_start(groups, None) is groups
    added = rehearse.with_start([RUN_OPTIONS], "latest")
    assert added[-1] == {"PropertyGroupId": "job", "PropertyMap": {"start_position": "latest"}}


def test_a_package_reading_by_efo_is_rehearsed_polling_where_the_local_kinesis_cannot_subscribe():
    said = []
    efo = [RUN_OPTIONS, {"PropertyGroupId": "job", "PropertyMap": {"reader": "efo"}}]
    kinesalite = load_config("local")
    polled = rehearse.reader_here(efo, kinesalite, said.append)
    assert next(g for g in polled if g["PropertyGroupId"] == "job")["PropertyMap"]["reader"] == "polling"
    assert "cannot serve: rehearsing it polling" in said[0]
    assert rehearse.reader_here([RUN_OPTIONS], kinesalite, said.append)[-1]["PropertyMap"] == {"reader": "polling"}
    mock = load_config("local", overrides=["stack.kinesis_server=kinesis-mock"])
    assert rehearse.reader_here(efo, mock, said.append) is efo  # kinesis-mock subscribes: rehearsed as packaged
    polling = [RUN_OPTIONS, {"PropertyGroupId": "job", "PropertyMap": {"reader": "polling"}}]
    assert rehearse.reader_here(polling, kinesalite, said.append) is polling
    assert len(said) == 2


def test_the_groups_run_at_the_local_stacks_endpoints_named_as_the_sdks_read_them(tmp_path):
    groups = tmp_path / "application_properties.json"
    groups.write_text(json.dumps([RUN_OPTIONS, {"PropertyGroupId": "streams", "PropertyMap": {"events.name": "e1"}}]))
    local = load_config("local")
    config = rehearse.rehearsal_config(groups, local)
    assert config.stream("events").name == "e1"  # the package's groups ...
    assert config.aws.endpoints == local.aws.endpoints  # ... at the stack's endpoints, with its keys
    assert config.aws.credentials == "local"
    assert rehearse.endpoint_variables(config) == {
        "AWS_ENDPOINT_URL_KINESIS": "http://127.0.0.1:4567",
        "AWS_ENDPOINT_URL": "http://127.0.0.1:4566",
    }


def test_no_python_312_says_how_to_get_one(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no python3.12 on it
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "pyenv"))
    monkeypatch.delenv(rehearse.PYTHON_ENV, raising=False)
    with pytest.raises(rehearse.RehearsalError, match=r"Python 3\.12.*set CLICKFLOW_MSF_PYTHON="):
        rehearse.find_python312()


def test_the_rehearsals_options_without_local_are_refused(capsys):
    from clickflow.cli import main

    assert main(["deploy", "--bounded"]) == 1
    assert "--bounded and --from are for a rehearsal on this machine: add --local" in capsys.readouterr().err


def test_a_broken_package_is_refused_before_anything_runs(tmp_path, capsys):
    from clickflow.cli import main

    package = make_zip(tmp_path / "app.zip", [JOB])  # no run options, and not `clickflow package`'s either
    assert main(["deploy", "--local", "--package", str(package), "--set", f"stack.state_dir={tmp_path}"]) == 1
    assert "clickflow deploy: error: --package" in capsys.readouterr().err


def test_a_package_whose_entry_point_imports_a_module_it_lacks_is_not_written(tmp_path):
    """check_imports, which build_package runs before the zip is in place: the entry point's module
    imported from the zip alone, every clickflow module it pulls in found there."""
    from clickflow.msf.package import PROJECT_ROOT, PackageError, check_imports

    package = tmp_path / "app.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr(MANIFEST, json.dumps({"property_groups": [RUN_OPTIONS]}))
        for name in ("connectors/__init__.py", "connectors/config.py", "connectors/profiles/__init__.py"):
            archive.write(PROJECT_ROOT / name, name)
        archive.write(PROJECT_ROOT / "connectors/profiles/aws.yaml", "connectors/profiles/aws.yaml")
        archive.writestr("jobs/__init__.py", "")
        archive.writestr("jobs/whole.py", "from connectors import config\n")
        archive.writestr("jobs/partial.py", "from producer import records\n")  # producer/ is not in the zip
    check_imports(package, "jobs.whole")
    with pytest.raises(
        PackageError, match=r"\(jobs\.partial\) imports producer, .*producer\.records, which the zip lacks"
    ):
        check_imports(package, "jobs.partial")
