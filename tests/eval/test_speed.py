"""The benchmark helpers run and report consistent records (no timing is asserted)."""
import numpy as np

from miniquant.cli import main
from miniquant.eval import speed


def test_compare_reports_medians_and_a_ratio():
    calls = []
    result = speed.compare(lambda: calls.append("a"), lambda: calls.append("b"), rounds=2, reps=3)
    assert set(result) == {"t_baseline", "t_kernel", "ratio"}
    assert result["t_baseline"] > 0 and result["t_kernel"] > 0 and result["ratio"] > 0
    assert calls.count("a") == calls.count("b") == 2 * (3 + 2)  # reps + warm-up, per round


def test_bench_shape_covers_every_format():
    records = speed.bench_shape((1, 256, 32), bandwidth=10.0, rounds=1, reps=1)
    assert [r.fmt for r in records] == [label for label, _ in speed.FORMATS]
    for r in records:
        assert r.weight_bytes < 256 * 32 * 4 and r.ratio > 0
        assert np.isclose(r.bandwidth_fraction, r.gbps / 10.0)
    table = speed.format_records(records, 10.0)
    assert "int4 g32 f16" in table and "w8a8" in table


def test_bench_command_runs_quickly(capsys, tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--shapes", "1x256x64", "--no-compile", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "streaming read bandwidth" in text and "tile+BLAS" in text and out.exists()


def test_bench_with_cold_caches_reads_other_data_before_every_call(capsys, monkeypatch):
    calls = []
    monkeypatch.setattr(speed, "EVICT_BYTES", 2**20)
    original = speed.evict_caches
    monkeypatch.setattr(speed, "evict_caches", lambda: (calls.append(1), original()))
    assert main(["bench", "--quick", "--cold", "--shapes", "1x256x64", "--no-compile"]) == 0
    out = capsys.readouterr().out
    assert "cold caches: 1 MB of other data are read before every timed call" in out
    # (formats, then the table/integer pairs) x (baseline, kernel) x rounds x reps
    assert len(calls) == (len(speed.FORMATS) + len(speed.PAIRS)) * 2 * 2 * 3
    assert "table kernels against their integer twins" in out and "nf4 g64 f16" in out


def test_the_benchmark_names_its_machine():
    header = speed.machine_header()
    assert header["cpu"] and header["cores"] >= 1
    text = speed.format_header(header)
    assert text.startswith("CPU: ") and "BLAS: " in text and "OPENBLAS_THREAD_TIMEOUT" in text


def test_import_order_mode_times_every_decode_kernel_in_both_orders(capsys, tmp_path):
    out = tmp_path / "order.json"
    assert main(["bench", "--import-order", "--quick", "--shapes", "1x256x64", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "numpy first" in text and "miniquant first" in text
    import json

    rows = json.loads(out.read_text())["import_order"]
    assert [r["kernel"] for r in rows] == [label for label, _, _ in speed.IMPORT_ORDER_KERNELS]
    assert all(r["numpy_first"] > 0 and r["miniquant_first"] > 0 for r in rows)
