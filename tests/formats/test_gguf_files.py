"""read_gguf: the same tensors and metadata as the gguf package reads, and a clear error for every malformed file."""
import struct

import numpy as np
import pytest

from miniquant.formats import gguf as blocks
from miniquant.formats.gguf import read_gguf, tensor_values

gguf = pytest.importorskip("gguf")


def string(s: str) -> bytes:
    raw = s.encode()
    return struct.pack("<Q", len(raw)) + raw


def gguf_bytes(*, magic=b"GGUF", version=3, kvs=(), tensors=(), data=b"", tensor_count=None, kv_count=None,
               alignment=32) -> bytes:
    """A GGUF file by hand: ``kvs`` as raw (key, type, payload) triples, ``tensors`` as (name, ne, type, offset)."""
    head = magic + struct.pack("<IQQ", version, len(tensors) if tensor_count is None else tensor_count,
                               len(kvs) if kv_count is None else kv_count)
    for key, kind, payload in kvs:
        head += string(key) + struct.pack("<I", kind) + payload
    for name, ne, kind, offset in tensors:
        head += string(name) + struct.pack("<I", len(ne)) + struct.pack(f"<{len(ne)}Q", *ne) + struct.pack("<IQ", kind, offset)
    head += b"\0" * (-len(head) % alignment)
    return head + data


def write(tmp_path, content: bytes):
    path = tmp_path / "f.gguf"
    path.write_bytes(content)
    return path


def test_a_file_written_by_gguf_reads_the_same(tmp_path, rng):
    path = tmp_path / "w.gguf"
    writer = gguf.GGUFWriter(path, "gpt2")
    writer.add_block_count(3)
    writer.add_token_list(["a", "b", "c"])
    writer.add_float32("some.scale", 0.5)
    x = rng.standard_normal((4, 64)).astype(np.float32)
    writer.add_tensor("f32", x)
    writer.add_tensor("f16", x.astype(np.float16))
    writer.add_tensor("q4", blocks.quantize(x, "Q4_0"), raw_dtype=gguf.GGMLQuantizationType.Q4_0)
    writer.add_tensor("q6k", blocks.quantize(np.tile(x, (1, 4)), "Q6_K"), raw_dtype=gguf.GGMLQuantizationType.Q6_K)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    f = read_gguf(path)
    assert f.version == 3
    assert f.metadata["general.architecture"] == "gpt2" and f.metadata["gpt2.block_count"] == 3
    assert f.metadata["tokenizer.ggml.tokens"] == ["a", "b", "c"] and f.metadata["some.scale"] == 0.5
    assert [(t.name, t.type_name, t.shape) for t in f.tensors.values()] == [
        ("f32", "F32", (4, 64)), ("f16", "F16", (4, 64)), ("q4", "Q4_0", (4, 64)), ("q6k", "Q6_K", (4, 256))]
    reference = {t.name: t for t in gguf.GGUFReader(path).tensors}
    for name, t in f.tensors.items():
        np.testing.assert_array_equal(t.data.reshape(-1), np.asarray(reference[name].data).reshape(-1).view(np.uint8))
        expected = gguf.quants.dequantize(reference[name].data, reference[name].tensor_type).reshape(t.shape)
        np.testing.assert_array_equal(tensor_values(t), expected)


U32 = 4


@pytest.mark.parametrize("content,message", [
    (b"", "not a GGUF file"),
    (b"GGML" + b"\0" * 20, "not a GGUF file"),
    (gguf_bytes(version=4), "version 4 is not supported"),
    (gguf_bytes()[:10], "truncated or corrupt"),
    (gguf_bytes(kv_count=2**62), "the metadata count is 4611686018427387904, more than"),
    (gguf_bytes(tensor_count=2**40), "the tensor count is"),
    (gguf_bytes(kvs=[("k", 8, struct.pack("<Q", 2**50))]), "the length of metadata 'k' is"),
    (gguf_bytes(kvs=[("k", 9, struct.pack("<IQ", 8, 2**55))]), "the length of metadata 'k' is"),
    (gguf_bytes(kvs=[("k", 9, struct.pack("<IQ", 9, 1))]), "an array of arrays"),
    (gguf_bytes(kvs=[("k", 13, b"")]), "unknown value type 13"),
    (gguf_bytes(kvs=[("k", U32, struct.pack("<I", 1)), ("k", U32, struct.pack("<I", 2))]), "'k' appears twice"),
    (gguf_bytes(kvs=[("general.alignment", U32, struct.pack("<I", 24))]), "alignment must be a power of two"),
    (gguf_bytes(tensors=[("t", [32], 0, 0)], data=b"\0" * 128), None),
    (gguf_bytes(tensors=[("t", [32], 0, 0)], data=b"\0" * 200), None),
    (gguf_bytes(tensors=[("t", [64], 0, 0)], data=b"\0" * 128), "needs bytes 0 .. 256 of the data"),
    (gguf_bytes(tensors=[("t", [32], 0, 2**60)], data=b"\0" * 128), "needs bytes"),
    (gguf_bytes(tensors=[("t", [32], 0, 3)], data=b"\0" * 256), "not a multiple of the alignment"),
    (gguf_bytes(tensors=[("t", [32], 99, 0)], data=b"\0" * 128), "ggml type 99"),
    (gguf_bytes(tensors=[("t", [48], 2, 0)], data=b"\0" * 128), "not a multiple of Q4_0's blocks of 32"),
    (gguf_bytes(tensors=[("t", [1, 1, 1, 1, 1], 0, 0)], data=b"\0" * 64), "5 dimensions"),
    (gguf_bytes(tensors=[("t", [32, 0], 0, 0)], data=b"\0" * 64), "empty shape"),
    (gguf_bytes(tensors=[("t", [32], 0, 0), ("t", [32], 0, 128)], data=b"\0" * 256), "'t' appears twice"),
    (gguf_bytes(tensors=[("a", [64], 0, 0), ("b", [32], 0, 128)], data=b"\0" * 256), "overlap"),
    (gguf_bytes(kvs=[("k", 8, string("\xff")[:8] + b"\xff")]), "not UTF-8"),
])
def test_malformed_files_are_refused_with_the_field_named(tmp_path, content, message):
    path = write(tmp_path, content)
    if message is None:                  # well-formed (a trailing gap after the data is allowed)
        assert read_gguf(path).tensors["t"].shape == (32,)
        return
    with pytest.raises(ValueError, match=message):
        read_gguf(path)


def test_a_path_that_is_not_a_file_is_refused(tmp_path):
    with pytest.raises((ValueError, FileNotFoundError, IsADirectoryError)):
        read_gguf(tmp_path)
