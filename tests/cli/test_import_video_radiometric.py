"""`thermcli import` of FLIR radiometric video (.csq, .seq, .fff) end to end, and `thermcli merge`
of separately imported recordings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.cli.helpers_thr_aug import written
from tests.conftest import assert_clean_error, make_dataset
from tests.io import fff_build as fb
from thermcli.io import read_dataset, write_dataset

pytestmark = pytest.mark.shared_data


@pytest.fixture
def csq(shared_data):
    return shared_data / "radiometric" / "thermimage" / "SampleCSQ.csq"


@pytest.fixture
def parser_dir(shared_data):
    return shared_data / "radiometric" / "thermal_parser"


@pytest.fixture(scope="module")
def csq_reference():
    """Each CSQ record's °C by the tests' own route: records cut at their magic bytes, the
    JPEG-LS stream decoded alone, the published formula with ExifTool's constants."""
    import imagecodecs

    from tests.conftest import SHARED_DATA
    from tests.io.test_fff import EXIFTOOL_JSON

    tags = json.loads(EXIFTOOL_JSON.read_text())[0]
    records = fb.split_at_magic((SHARED_DATA / "radiometric" / "thermimage" / "SampleCSQ.csq").read_bytes())
    raws = [imagecodecs.jpegls_decode(fb.jpegls_stream(r)) for r in records]
    return raws, fb.exiftool_reference_args(tags)


def test_import_csq_writes_celsius_frames_with_timestamps_and_camera(cli, tmp_path, csq, csq_reference):
    out = tmp_path / "csq.h5"
    result = cli("import", csq, out)
    assert result.exit_code == 0, result.output
    ds = read_dataset(out)
    assert ds.meta.unit == "celsius" and ds.frames.dtype == np.float32 and ds.frames.shape == (8, 768, 1024)
    raws, args = csq_reference
    for k in range(8):
        assert np.abs(ds.frames[k] - fb.reference_celsius(raws[k], **args)).max() < 0.01
    # the records' own time stamps (ms resolution, 30 fps), not index / fps
    steps = np.diff(ds.timestamp)
    assert ds.timestamp[0] == 0.0 and np.all((steps > 0.032) & (steps < 0.035)) and not np.allclose(steps, steps[0])
    camera = ds.meta.attrs["camera"]
    assert (camera["model"], camera["serial"], camera["lens"]) == ("FLIR T1030sc 12__", "72501090", "FOL83")
    assert ds.meta.attrs["recordings"][0]["start"] == "2017-05-19T12:45:33.583-07:00"
    info = cli("info", out)
    assert info.exit_code == 0
    assert "FLIR T1030sc 12__" in info.output and "FOL83" in info.output and "72501090" in info.output
    summary = json.loads(cli("info", out, "--json").output)
    assert summary["camera"]["lens"] == "FOL83"


def test_frames_and_stride_select_records(cli, tmp_path, csq):
    full, part = tmp_path / "full.h5", tmp_path / "part.h5"
    assert cli("import", csq, full).exit_code == 0
    result = cli("import", csq, part, "--frames", "1:8", "--stride", "3")
    assert result.exit_code == 0, result.output
    a, b = read_dataset(full), read_dataset(part)
    np.testing.assert_array_equal(b.frames, a.frames[[1, 4, 7]])
    np.testing.assert_array_equal(b.timestamp, a.timestamp[[1, 4, 7]])


def test_overrides_change_the_conversion(cli, tmp_path, csq, csq_reference):
    out = tmp_path / "o.h5"
    result = cli("import", csq, out, "--frames", "0:2", "--emissivity", "0.9", "--ambient", "30", "--distance", "4", "--humidity", "70")
    assert result.exit_code == 0, result.output
    raws, args = csq_reference
    args = args | dict(emissivity=0.9, reflected_c=30.0, atmospheric_c=30.0, distance=4.0, humidity=0.7)
    got = read_dataset(out).frames
    assert np.abs(got[1] - fb.reference_celsius(raws[1], **args)).max() < 0.01
    options = read_dataset(out).meta.provenance["options"]
    assert options["distance"] == 4.0 and options["humidity"] == 70.0


def test_seq_built_from_real_records(cli, tmp_path, parser_dir):
    """A .seq of the T640's real record, uncompressed and JPEG-LS: flyr's °C, own time stamps."""
    import flyr

    _, records = fb.records_of(fb.fff_from_jpeg(parser_dir / "FLIR_T640.jpg"))
    counts = fb.raw_counts(records[0x01])
    want = np.asarray(flyr.unpack(str(parser_dir / "FLIR_T640.jpg")).celsius, np.float32)
    for compression in ("none", "jpegls"):
        recs = [fb.fff_record(fb.with_time(records[0x20], 1_600_000_000, 100 * k), fb.raw_record(np.flipud(counts) if k % 2 else counts, compression))
                for k in range(4)]
        seq = fb.write_seq(tmp_path / f"t640-{compression}.seq", recs)
        out = tmp_path / f"{compression}.h5"
        result = cli("import", seq, out)
        assert result.exit_code == 0, result.output
        ds = read_dataset(out)
        assert ds.frames.shape == (4, 480, 640)
        for k in range(4):
            np.testing.assert_allclose(ds.frames[k], np.flipud(want) if k % 2 else want, rtol=0, atol=1e-4)
        np.testing.assert_allclose(ds.timestamp, [0.0, 0.1, 0.2, 0.3], atol=1e-9)
        assert ds.meta.attrs["camera"]["model"] == "FLIR T640"


def _ax8_records(parser_dir):
    _, records = fb.records_of(fb.fff_from_jpeg(parser_dir / "FLIR_AX8.jpg"))
    return records, fb.raw_counts(records[0x01])


def test_bad_files_are_one_line_errors_and_write_nothing(cli, tmp_path, parser_dir):
    records, counts = _ax8_records(parser_dir)
    good = fb.fff_record(records[0x20], fb.raw_record(counts, "jpegls"))
    header = fb.raw_record(counts, "none")[:32]
    cases = {
        "truncated.seq": (b"".join([good] * 3))[:-150],
        "unknown.seq": good + b"ABC\x00" + b"\x07" * 80 + good,
        "lossy.seq": good + fb.fff_record(records[0x20], header + b"\xff\xd8\xff\xe0" + b"\x00" * 300),
        "b60.fff": fb.fff_from_jpeg(parser_dir / "FLIR_B60.jpg"),
    }
    needles = {
        "truncated.seq": "truncated file",
        "unknown.seq": "unknown record type",
        "lossy.seq": "unsupported raw image compression",
        "b60.fff": "implausible temperatures",
    }
    for name, data in cases.items():
        src = tmp_path / "in" / name
        src.parent.mkdir(exist_ok=True)
        src.write_bytes(data)
        before = written(tmp_path)
        assert_clean_error(cli("import", src, tmp_path / "out.h5"), 1, name, needles[name])
        assert written(tmp_path) == before
        assert src.read_bytes() == data


def test_skip_bad_leaves_out_bad_frames_and_files(cli, tmp_path, parser_dir):
    records, counts = _ax8_records(parser_dir)
    good = fb.fff_record(records[0x20], fb.raw_record(counts, "jpegls"))
    header = fb.raw_record(counts, "none")[:32]
    broken = fb.fff_record(records[0x20], header + b"\xff\xd8\xff\xf7" + b"\x00" * 64)
    folder = tmp_path / "recs"
    folder.mkdir()
    fb.write_seq(folder / "a.seq", [good, broken, good])
    (folder / "b.seq").write_bytes(good + b"ABC\x00" + b"\x07" * 80)
    out = tmp_path / "o.h5"
    result = cli("import", folder, out, "--skip-bad")
    assert result.exit_code == 0, result.output
    ds = read_dataset(out)
    assert ds.frames.shape == (2, 60, 80)
    skipped = {s["path"]: s["error"] for s in ds.meta.attrs["skipped"]}
    assert "cannot decode the JPEG-LS raw image" in skipped[f"{folder / 'a.seq'} (frame 1)"]
    assert "unknown record type" in skipped[str(folder / "b.seq")]
    np.testing.assert_array_equal(ds.timestamp, [0.0, 0.0])  # frames 0 and 2, same time stamp


def test_stride_does_not_decode_the_records_it_skips(cli, tmp_path, parser_dir):
    """Every odd record holds an undecodable image: --stride 2 and --frames 2:3 import cleanly."""
    records, counts = _ax8_records(parser_dir)
    good = fb.fff_record(records[0x20], fb.raw_record(counts, "jpegls"))
    broken = fb.fff_record(records[0x20], fb.raw_record(counts, "none")[:32] + b"\xff\xd8\xff\xf7" + b"\x00" * 64)
    seq = fb.write_seq(tmp_path / "mixed.seq", [good, broken] * 3)
    for extra, n in ((("--stride", "2"), 3), (("--frames", "2:3"), 1)):
        out = tmp_path / f"o{n}.h5"
        result = cli("import", seq, out, *extra)
        assert result.exit_code == 0, result.output
        assert read_dataset(out).frames.shape == (n, 60, 80)
    assert_clean_error(cli("import", seq, tmp_path / "all.h5"), 1, "mixed.seq (frame 1)", "JPEG-LS")


def test_video_only_options_are_refused_elsewhere(cli, tmp_path, parser_dir, csq):
    assert_clean_error(cli("import", parser_dir / "FLIR_AX8.jpg", tmp_path / "o.h5", "--distance", "3"), 2, "--distance")
    assert_clean_error(cli("import", csq, tmp_path / "o.h5", "--humidity", "150"), 2, "--humidity")
    assert not (tmp_path / "o.h5").exists()


# ---- merge ----------------------------------------------------------------------------------------


def test_merge_two_separately_imported_recordings(cli, tmp_path, csq):
    """The CSQ cut into two recordings, imported apart, merged: the whole import's frames,
    every part's provenance and recording kept."""
    records = fb.split_at_magic(csq.read_bytes())
    first, second = tmp_path / "rec1.csq", tmp_path / "rec2.csq"
    first.write_bytes(b"".join(records[:5]))
    second.write_bytes(b"".join(records[5:]))
    whole, a, b, merged = (tmp_path / n for n in ("whole.h5", "a.h5", "b.h5", "merged.h5"))
    for src, out in ((csq, whole), (first, a), (second, b)):
        assert cli("import", src, out).exit_code == 0
    result = cli("merge", a, b, merged)
    assert result.exit_code == 0, result.stderr
    m = read_dataset(merged)
    np.testing.assert_array_equal(m.frames, read_dataset(whole).frames)
    assert m.meta.attrs["camera"]["serial"] == "72501090"
    assert [r["path"] for r in m.meta.attrs["recordings"]] == [str(first), str(second)]
    assert m.meta.attrs["sources"] == [str(first), str(second)]
    inputs = m.meta.provenance["inputs"]
    assert [r["path"] for r in inputs] == [str(a.resolve()), str(b.resolve())]
    assert [r["provenance"]["inputs"][0]["path"] for r in inputs] == [str(first.resolve()), str(second.resolve())]


def test_merge_names_the_differing_field_and_both_values(cli, tmp_path, parser_dir, csq):
    records, counts = _ax8_records(parser_dir)
    cam = fb.with_float(records[0x20], 0x20, 0.95)  # nothing else changes: only the camera differs below
    ax8 = fb.write_seq(tmp_path / "ax8.seq", [fb.fff_record(cam, fb.raw_record(counts))])
    other = bytearray(cam)
    other[0xD4:0xD4 + 9] = b"FLIR AX9\x00"
    ax9 = fb.write_seq(tmp_path / "ax9.seq", [fb.fff_record(bytes(other), fb.raw_record(counts))])
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    assert cli("import", ax8, a).exit_code == 0 and cli("import", ax9, b).exit_code == 0
    before = written(tmp_path)
    assert_clean_error(cli("merge", a, b, tmp_path / "m.h5"), 1, str(b), "attrs.camera.model", "'FLIR AX9'", "'FLIR AX8'")
    assert written(tmp_path) == before


def test_merge_refusal_names_a_plain_metadata_field(cli, tmp_path):
    a, b = tmp_path / "a.h5", tmp_path / "b.h5"
    write_dataset(a, make_dataset(n=3, seed=1))
    other = make_dataset(n=3, seed=2)
    other.meta.class_names = ["cold", "hot"]
    write_dataset(b, other)
    assert_clean_error(cli("merge", a, b, tmp_path / "m.h5"), 1, str(b), "class_names[0]", "'cold' here", f"'INH' in {a}")
    assert not (tmp_path / "m.h5").exists()
