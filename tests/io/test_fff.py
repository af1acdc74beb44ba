"""FLIR FFF records (.seq/.csq/.fff): parsing, raw → °C against flyr and an independent
formula, time stamps, frame selection without decoding, and clean errors.

Files are built from real records: the FFF file each FLIR R-JPEG in ../shared/data carries, and
the records of SampleCSQ.csq (a real FLIR T1030sc recording, JPEG-LS compressed).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.io import fff_build as fb
from thermcli.errors import DataError
from thermcli.io import fff

FLIR_FIVE = ["FLIR.jpg", "FLIR_AX8.jpg", "FLIR_B60.jpg", "FLIR_E40.jpg", "FLIR_T640.jpg"]
EXIFTOOL_JSON = Path(__file__).parent / "data" / "SampleCSQ.exiftool.json"


@pytest.fixture
def parser_dir(shared_data):
    return shared_data / "radiometric" / "thermal_parser"


@pytest.fixture
def csq(shared_data):
    return shared_data / "radiometric" / "thermimage" / "SampleCSQ.csq"


def exiftool_txt(path: Path) -> dict[str, str]:
    """The ``Tag Name : value`` lines of a shared ``*.exiftool.txt`` dump (UTF-16 or UTF-8)."""
    data = path.read_bytes()
    text = data.decode("utf-16") if data[:2] in (b"\xff\xfe", b"\xfe\xff") else data.decode("utf-8", "replace")
    out = {}
    for line in text.splitlines():
        if ":" in line:
            key, value = line.split(":", 1)
            out.setdefault(key.strip(), value.strip())
    return out


def real_record(parser_dir: Path, name: str) -> bytes:
    return fb.fff_from_jpeg(parser_dir / name)


# ---- real R-JPEG records read as bare .fff files ---------------------------------------------------


@pytest.mark.shared_data
@pytest.mark.parametrize("name", FLIR_FIVE)
def test_rjpeg_record_as_fff_matches_flyr(tmp_path, parser_dir, name):
    """The five plain FLIR R-JPEGs' records (big-endian headers; PNG or uncompressed counts):
    °C equal flyr's to 1e-4, and camera/lens/constants equal ExifTool's dump of the file."""
    import flyr

    path = tmp_path / "one.fff"
    path.write_bytes(real_record(parser_dir, name))
    with fff.FlirRecording(path) as recording:
        assert recording.n == 1
        frame = recording.frame(0)  # no plausibility check: FLIR_B60 decodes implausibly in both
    want = np.asarray(flyr.unpack(str(parser_dir / name)).celsius)
    assert frame.celsius.dtype == np.float32 and frame.celsius.shape == want.shape
    np.testing.assert_allclose(frame.celsius, want, rtol=0, atol=1e-4)
    dump = exiftool_txt(parser_dir / name.replace(".jpg", ".exiftool.txt"))
    assert frame.info.model == dump["Camera Model"]
    assert frame.info.lens == dump["Lens Model"]
    assert frame.info.planck.r1 == pytest.approx(float(dump["Planck R1"]), rel=1e-6)
    assert frame.info.planck.o == pytest.approx(float(dump["Planck O"]))
    assert frame.info.params.emissivity == pytest.approx(float(dump["Emissivity"]), abs=1e-6)


@pytest.mark.shared_data
def test_b60_is_refused_as_implausible(tmp_path, parser_dir):
    path = tmp_path / "b60.fff"
    path.write_bytes(real_record(parser_dir, "FLIR_B60.jpg"))
    with fff.FlirRecording(path) as recording, pytest.raises(DataError, match="implausible temperatures"):
        recording.frame(0, plausible=(-40.0, 2000.0))


# ---- .seq files built from real records ----------------------------------------------------------


def _seq_from(parser_dir, name, tmp_path, compression, n=5, endian="<", step_ms=40):
    """n records of one real camera record: counts rolled by k columns, time stamps k*step_ms apart."""
    _, records = fb.records_of(real_record(parser_dir, name))
    counts = fb.raw_counts(records[0x01])
    t0 = 1_700_000_000
    out = []
    for k in range(n):
        ms = 990 + k * step_ms  # crosses a second boundary
        camera = fb.with_time(records[0x20], t0 + ms // 1000, ms % 1000)
        raw = fb.raw_record(np.roll(counts, k, axis=1), compression, endian)
        out.append(fb.fff_record(camera, raw, endian=endian))
    return fb.write_seq(tmp_path / f"{name}-{compression}.seq", out), counts


@pytest.mark.shared_data
@pytest.mark.parametrize("compression,endian", [("none", "<"), ("none", ">"), ("jpegls", "<"), ("png", ">")])
def test_seq_from_real_records(tmp_path, parser_dir, compression, endian):
    import flyr

    path, _ = _seq_from(parser_dir, "FLIR_T640.jpg", tmp_path, compression, endian=endian)
    want = np.asarray(flyr.unpack(str(parser_dir / "FLIR_T640.jpg")).celsius)
    with fff.FlirRecording(path) as recording:
        assert recording.n == 5
        frames = list(recording.iter_frames(range(5), plausible=(-40.0, 2000.0)))
    for k, frame in enumerate(frames):
        np.testing.assert_allclose(frame.celsius, np.roll(want, k, axis=1), rtol=0, atol=1e-4)
        assert frame.timestamp == pytest.approx(k * 0.040, abs=1e-9)
    assert frames[0].info.camera_attrs()["model"] == "FLIR T640"


@pytest.mark.shared_data
def test_seq_of_unchanged_real_records(tmp_path, parser_dir):
    """A .seq made of the E40's real FFF record (uncompressed counts) three times over, bytes
    unchanged, and the T640's after it: every record found, each equal to flyr."""
    import flyr

    e40, t640 = real_record(parser_dir, "FLIR_E40.jpg"), real_record(parser_dir, "FLIR_T640.jpg")
    path = fb.write_seq(tmp_path / "real.seq", [e40, e40, e40, t640])
    with fff.FlirRecording(path) as recording:
        assert recording.n == 4
        for k, name in enumerate(["FLIR_E40.jpg"] * 3 + ["FLIR_T640.jpg"]):
            want = np.asarray(flyr.unpack(str(parser_dir / name)).celsius)
            np.testing.assert_allclose(recording.frame(k).celsius, want, rtol=0, atol=1e-4)


@pytest.mark.shared_data
def test_overrides_match_flyr_adjust_metadata(tmp_path, parser_dir):
    import flyr

    path = tmp_path / "t.fff"
    path.write_bytes(real_record(parser_dir, "FLIR_AX8.jpg"))
    overrides = fff.Overrides(emissivity=0.9, ambient_c=30.0, distance_m=5.0, humidity_pct=80.0)
    with fff.FlirRecording(path) as recording:
        got = recording.frame(0, overrides).celsius
        plain = recording.frame(0).celsius
    want = flyr.unpack(str(parser_dir / "FLIR_AX8.jpg")).adjust_metadata(
        emissivity=0.9, reflected_apparent_temperature=303.15, atmospheric_temperature=303.15,
        object_distance=5.0, relative_humidity=0.8,
    ).celsius
    np.testing.assert_allclose(got, np.asarray(want), rtol=0, atol=1e-4)
    assert np.abs(got - plain).max() > 0.1


# ---- the real CSQ against ExifTool -----------------------------------------------------------------


def _check_csq_against(reference: list[dict], records: list[bytes], recording: fff.FlirRecording, raws: list[np.ndarray]):
    t0 = None
    for k, (tags, raw) in enumerate(zip(reference, raws)):
        want = fb.reference_celsius(raw, **fb.exiftool_reference_args(tags))
        frame = recording.frame(k, plausible=(-40.0, 2000.0))
        assert frame.celsius.dtype == np.float32
        assert np.abs(frame.celsius - want).max() < 0.01
        # ExifTool's "2017:05:19 12:45:33.583-07:00": seconds since the first record
        stamp = tags["DateTimeOriginal"]
        seconds = int(stamp[11:13]) * 3600 + int(stamp[14:16]) * 60 + float(stamp[17:23])
        t0 = seconds if t0 is None else t0
        assert frame.timestamp == pytest.approx(seconds - t0, abs=1e-6)
        assert frame.info.model == tags["CameraModel"] and frame.info.lens == tags["LensModel"]
        assert frame.info.serial == str(tags["CameraSerialNumber"])


@pytest.mark.shared_data
def test_csq_equals_recorded_exiftool_reference(csq):
    """Without ExifTool: the records cut at their magic bytes by the test, each JPEG-LS stream
    decoded on its own, converted by the published formula with the constants ExifTool 12.57
    printed for this file (tests/io/data/SampleCSQ.exiftool.json: ``exiftool -j -n`` on each
    record)."""
    import imagecodecs

    reference = json.loads(EXIFTOOL_JSON.read_text())
    records = fb.split_at_magic(csq.read_bytes())
    assert len(records) == 8
    raws = [imagecodecs.jpegls_decode(fb.jpegls_stream(r)) for r in records]
    reference = reference + [reference[-1] | {"DateTimeOriginal": "2017:05:19 12:45:33.817-07:00"}]
    with fff.FlirRecording(csq) as recording:
        assert recording.n == 8
        # the last record's time stamp from its own bytes (ExifTool refuses the record: its
        # directory claims 4 padding bytes past the end of the file)
        reference[-1]["DateTimeOriginal"] = reference[0]["DateTimeOriginal"][:20] + f"{recording.camera_info(7).time_ms:03d}-07:00"
        _check_csq_against(reference[:7], records, recording, raws[:7])
        last = recording.frame(7)
        np.testing.assert_allclose(last.celsius, fb.reference_celsius(raws[7], **fb.exiftool_reference_args(reference[0])), atol=0.01, rtol=0)
        assert last.timestamp > recording.frame(6).timestamp


@pytest.mark.shared_data
def test_csq_equals_live_exiftool(csq, tmp_path):
    """With ExifTool installed: each record's raw image and constants extracted by ExifTool."""
    import imagecodecs

    exiftool = shutil.which("exiftool")
    if exiftool is None:
        pytest.skip("exiftool not installed (Debian: libimage-exiftool-perl); the recorded reference test covers this")
    paths = []
    for k, record in enumerate(fb.split_at_magic(csq.read_bytes())):
        paths.append(tmp_path / f"r{k}.fff")
        paths[-1].write_bytes(record)
    paths = paths[:7]  # ExifTool refuses the last, 4 bytes short of its directory's length
    tags = json.loads(subprocess.run([exiftool, "-j", "-n", *map(str, paths)], capture_output=True, check=True, text=True).stdout)
    raws = [imagecodecs.jpegls_decode(subprocess.run([exiftool, "-b", "-RawThermalImage", str(p)], capture_output=True, check=True).stdout) for p in paths]
    with fff.FlirRecording(csq) as recording:
        _check_csq_against(tags, [], recording, raws)


# ---- property: the lookup table is flyr's conversion ------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    emissivity=st.floats(0.5, 1.0),
    reflected=st.floats(-10.0, 40.0),
    distance=st.floats(0.0, 50.0),
    humidity=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**16),
)
def test_table_lookup_equals_flyr_and_published_formula(emissivity, reflected, distance, humidity, seed):
    from flyr.thermogram import FlyrThermogram

    params = fff.ObjectParameters(emissivity, distance, reflected + 273.15, 293.15, 293.15, 1.0, humidity)
    planck = fff.PlanckConstants(r1=21546.203, r2=0.016229488, b=1507.2, f=1.0, o=-6331.0,
                                 alpha1=0.006569, alpha2=0.01262, beta1=-0.002276, beta2=-0.00667, x=1.9)
    raw = np.random.default_rng(seed).integers(9000, 40000, (17, 23), dtype=np.uint16)
    got = fff.raw_to_celsius(raw, params, planck)
    with np.errstate(all="ignore"):
        direct = np.asarray(FlyrThermogram(raw.astype(np.int64), fff.flyr_metadata(params, planck)).celsius)
    np.testing.assert_array_equal(got, direct.astype(np.float32))
    published = fb.reference_celsius(
        raw, emissivity=emissivity, distance=distance, reflected_c=reflected, atmospheric_c=20.0, window_c=20.0,
        window_transmission=1.0, humidity=humidity, r1=planck.r1, r2=planck.r2, b=planck.b, f=planck.f, o=planck.o,
        alpha1=planck.alpha1, alpha2=planck.alpha2, beta1=planck.beta1, beta2=planck.beta2, x=planck.x,
    )
    # the published formula agrees over the range cameras measure to the 0.01 °C (flyr
    # writes 273.17 for 273.15 in one term of the air's water content: up to ~1e-3 °C at 30 m,
    # 100 % humidity and emissivity 0.5)
    measured = np.isfinite(published) & (published > -40) & (published < 1000)
    np.testing.assert_allclose(got[measured], published[measured], rtol=0, atol=0.01)


# ---- selection without decoding, and errors ------------------------------------------------------------


@pytest.mark.shared_data
def test_skipped_records_are_not_decoded(tmp_path, parser_dir):
    """Odd records hold undecodable images: a stride-2 read never touches them."""
    _, records = fb.records_of(real_record(parser_dir, "FLIR_AX8.jpg"))
    good = fb.fff_record(records[0x20], fb.raw_record(fb.raw_counts(records[0x01]), "jpegls"))
    header = fb.raw_record(np.zeros((60, 80), np.uint16), "none")[:32]
    broken = fb.fff_record(records[0x20], header + b"\xff\xd8\xff\xf7" + b"\x00" * 100)
    path = fb.write_seq(tmp_path / "mixed.seq", [good, broken] * 3)
    with fff.FlirRecording(path) as recording:
        assert recording.n == 6
        assert len(list(recording.iter_frames(range(0, 6, 2), plausible=(-40.0, 2000.0)))) == 3
        with pytest.raises(DataError, match=r"cannot decode the JPEG-LS raw image") as caught:
            recording.frame(1)
        assert caught.value.path.endswith("mixed.seq (frame 1)")


@pytest.fixture
def ax8_seq(tmp_path, parser_dir):
    _, records = fb.records_of(real_record(parser_dir, "FLIR_AX8.jpg"))
    counts = fb.raw_counts(records[0x01])

    def make(compression="none", n=3):
        rec = fb.fff_record(records[0x20], fb.raw_record(counts, compression))
        return [rec] * n, records

    return make


@pytest.mark.shared_data
def test_truncated_files(tmp_path, ax8_seq):
    for compression in ("none", "jpegls"):
        recs, _ = ax8_seq(compression)
        data = b"".join(recs)
        cut = tmp_path / f"cut-{compression}.seq"
        cut.write_bytes(data[: len(data) - 200])
        with fff.FlirRecording(cut) as recording:
            recording.frame(1)
            with pytest.raises(DataError, match="truncated file"):
                recording.frame(2)
    # cut inside the last record's header or CameraInfo: found when indexing
    recs, _ = ax8_seq()
    for keep in (30, 64 + 40, 200):
        cut = tmp_path / "head.seq"
        cut.write_bytes(b"".join(recs[:2]) + recs[2][:keep])
        with pytest.raises(DataError, match="truncated file"):
            fff.FlirRecording(cut)


@pytest.mark.shared_data
def test_unknown_record_type(tmp_path, ax8_seq):
    recs, _ = ax8_seq()
    path = fb.write_seq(tmp_path / "junk.seq", [recs[0], b"XYZ\x00" + b"\x01" * 60, recs[1]])
    with pytest.raises(DataError, match=r"unknown record type b'XYZ\\x00' at byte"):
        fff.FlirRecording(path)
    (tmp_path / "notfff.seq").write_bytes(b"RIFF" + b"\x00" * 100)
    with pytest.raises(DataError, match="not a FLIR FFF/SEQ/CSQ file"):
        fff.FlirRecording(tmp_path / "notfff.seq")


@pytest.mark.shared_data
def test_zero_padding_between_records_is_allowed(tmp_path, ax8_seq):
    recs, _ = ax8_seq()
    path = fb.write_seq(tmp_path / "pad.seq", [recs[0] + b"\x00" * 12, recs[1] + b"\x00" * 8, recs[2]])
    with fff.FlirRecording(path) as recording:
        assert recording.n == 3


@pytest.mark.shared_data
def test_unsupported_compression(tmp_path, ax8_seq):
    _, records = ax8_seq()
    header = fb.raw_record(np.zeros((60, 80), np.uint16), "none")[:32]
    lossy = fb.fff_record(records[0x20], header + b"\xff\xd8\xff\xe0" + b"\x00" * 200)
    unknown = fb.fff_record(records[0x20], header + b"ZSTD" + b"\x00" * 200)
    for name, record, needle in (("lossy", lossy, "JPEG, not JPEG-LS"), ("unknown", unknown, "first bytes 5a535444")):
        path = fb.write_seq(tmp_path / f"{name}.seq", [record])
        with fff.FlirRecording(path) as recording, pytest.raises(DataError, match=f"unsupported raw image compression.*{needle}"):
            recording.frame(0)
