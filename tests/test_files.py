"""Files are never lost: atomic writes, exact paths, outputs that would overwrite an input refused."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from miniquant.files import atomic_write, check_input_file, check_output_path, file_digest
from miniquant.nn import GPTConfig, init_params, load_checkpoint, save_checkpoint

CONFIG = GPTConfig(vocab_size=256, n_ctx=16, n_embd=16, n_head=2, n_layer=1)


def test_an_interrupted_write_keeps_the_old_file_and_leaves_nothing(tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("the old contents")
    with pytest.raises(KeyboardInterrupt):
        with atomic_write(target, "w") as fh:
            fh.write("half of the new")
            raise KeyboardInterrupt
    assert target.read_text() == "the old contents"
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_a_checkpoint_cut_short_by_a_file_size_limit_keeps_the_old_one(tmp_path):
    path = tmp_path / "model.npz"
    save_checkpoint(path, CONFIG, init_params(CONFIG, seed=0))
    before = path.read_bytes()
    # A second process with a 4 KB file-size limit rewrites the checkpoint (as `train --out` does at
    # every log step): the write fails with EFBIG, and the file that was there must survive.
    script = textwrap.dedent(f"""
        import resource, signal, sys
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        from miniquant.nn import GPTConfig, init_params, save_checkpoint
        config = GPTConfig(vocab_size=256, n_ctx=16, n_embd=16, n_head=2, n_layer=1)
        try:
            save_checkpoint({str(path)!r}, config, init_params(config, seed=1))
        except OSError as exc:
            print("failed:", exc.errno)
            sys.exit(0)
        sys.exit("the write was not cut short")
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "failed: 27" in result.stdout  # EFBIG
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]
    load_checkpoint(path)


def test_a_checkpoint_is_written_at_exactly_the_path_given(tmp_path):
    path = tmp_path / "model"  # no .npz: NumPy alone would write model.npz
    save_checkpoint(path, CONFIG, init_params(CONFIG))
    assert os.listdir(tmp_path) == ["model"]
    config, _, _ = load_checkpoint(path)
    assert config == CONFIG


def test_a_folder_as_output_is_refused(tmp_path):
    with pytest.raises(ValueError, match="is a directory"):
        save_checkpoint(tmp_path, CONFIG, init_params(CONFIG))
    assert os.listdir(tmp_path) == []


def test_outputs_that_are_an_input_or_unwritable_are_refused(tmp_path):
    source = tmp_path / "float.npz"
    source.write_bytes(b"x")
    os.link(source, tmp_path / "hard.npz")
    for same in (source, tmp_path / "hard.npz", tmp_path / "." / "float.npz"):
        with pytest.raises(ValueError, match="is the same file as the input"):
            check_output_path(same, name="--out", inputs=[None, source])
    with pytest.raises(ValueError, match="folder .* does not exist"):
        check_output_path(tmp_path / "missing" / "out.npz")
    if os.geteuid() != 0:  # root writes anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(PermissionError, match="is not writable"):
            check_output_path(locked / "out.npz")
    assert check_output_path(tmp_path / "new.npz", inputs=[source]) == str(tmp_path / "new.npz")


def test_atomic_write_keeps_the_permissions_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "records.json"
    target.write_text("{}")
    target.chmod(0o640)
    with atomic_write(target, "w") as fh:
        fh.write("[]")
    assert (target.stat().st_mode & 0o777) == 0o640 and target.read_text() == "[]"


def test_inputs_must_be_regular_files(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is not a regular file"):
        check_input_file(fifo, name="--model")          # returns at once: a FIFO is never opened
    with pytest.raises(ValueError, match="is not a regular file"):
        load_checkpoint(fifo)
    with pytest.raises(ValueError, match="is not a regular file"):
        check_input_file(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        check_input_file(tmp_path / "nope")


def test_file_digest_is_sha256(tmp_path):
    import hashlib

    data = np.arange(3000, dtype=np.uint8).tobytes()
    (tmp_path / "f").write_bytes(data)
    assert file_digest(tmp_path / "f", chunk=1000) == hashlib.sha256(data).hexdigest()
