"""Speed measurements: quantized matmul kernels against NumPy float32, side by side.

This machine is shared and noisy, so every figure is a *ratio measured in one run*: for
each round, the NumPy baseline and the kernel are each timed over several repetitions
(after a warm-up) and the ratio of their medians is taken; the reported ratio is the
median over rounds. The baseline and the kernel are timed in separate blocks, never
interleaved call by call, because interleaving measures the thread hand-over between
OpenBLAS and Numba rather than either one (``KERNEL-NOTES.md``); ``interleaved_cost``
measures that separately.

Nothing here is a test: ``benchmarks/bench_kernels.py`` and ``miniquant bench`` print it.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..kernels import HAS_VNNI, PREFILL_M, qmatmul, w4a8_matmul, w8a8_matmul
from ..kernels._jit import HAS_AVX512
from ..kernels.matmul import fused_matmul, fused_path
from ..kernels.tables import table_kernel_for
from ..kernels.operands import weight_operands
from ..kernels.tiled import tiled_matmul
from ..nn.gpt import expected_shapes
from ..tensor import quantize

#: Shapes (M, K, N) from the issue: decode of a 7B-class layer, a small batch, a prefill.
DEFAULT_SHAPES = ((1, 4096, 4096), (1, 4096, 11008), (32, 4096, 11008), (512, 4096, 4096))



def model_shapes(config, M: int = 1) -> list[tuple[int, int, int]]:
    """The distinct ``(M, K, N)`` of a GPT's weight matrices (``nn.gpt.expected_shapes``), e.g. decode at ``M = 1``.

    >>> from miniquant.nn import GPTConfig
    >>> model_shapes(GPTConfig(vocab_size=256, n_ctx=128, n_embd=128, n_head=4, n_layer=4))
    [(1, 128, 384), (1, 128, 128), (1, 128, 512), (1, 512, 128)]
    """
    shapes = []
    for name, shape in expected_shapes(config).items():
        if len(shape) == 2 and name.endswith(".weight") and (M, *shape) not in shapes:
            shapes.append((M, *shape))
    return shapes


#: The formats benchmarked: a label and ``quantize`` options; ``kernel`` names the kernel when it is
#: not ``qmatmul`` (float activations): ``w8a8`` (int8 x int8) or ``w4a8`` (4-bit x int8).
FORMATS = (
    ("int8 channel", dict(bits=8, granularity="channel")),
    ("int4 g32 f16", dict(bits=4, group_size=32, scale_dtype=np.float16)),
    ("int4 g128 f16", dict(bits=4, group_size=128, scale_dtype=np.float16)),
    ("int4 asym g128 f16", dict(bits=4, scheme="asymmetric", group_size=128, scale_dtype=np.float16)),
    ("int3 g128 f16", dict(bits=3, group_size=128, scale_dtype=np.float16)),
    ("w8a8 channel", dict(bits=8, granularity="channel", kernel="w8a8")),
    ("w4a8 g32 f16", dict(bits=4, group_size=32, scale_dtype=np.float16, kernel="w4a8")),
    ("w4a8 g128 f16", dict(bits=4, group_size=128, scale_dtype=np.float16, kernel="w4a8")),
    ("int4 g64 f16", dict(bits=4, group_size=64, scale_dtype=np.float16)),
    ("nf4 g64 f16", dict(format="nf4", group_size=64, scale_dtype=np.float16)),
    ("fp4 g32 f16", dict(format="fp4_e2m1", group_size=32, scale_dtype=np.float16)),
    ("mxfp4", dict(format="mxfp4")),
    ("fp8_e4m3 channel", dict(format="fp8_e4m3", granularity="channel")),
    ("fp8_e5m2 channel", dict(format="fp8_e5m2", granularity="channel")),
    ("mxfp8", dict(format="mxfp8")),
)
#: Table-format kernels against the integer kernel they should cost about as much as: ``(candidate, baseline)``
#: labels of ``FORMATS``, timed side by side (``bench_pairs``); the issue's targets are ratios of at least 0.9.
PAIRS = (("nf4 g64 f16", "int4 g64 f16"), ("fp4 g32 f16", "int4 g32 f16"), ("mxfp4", "int4 g32 f16"),
         ("fp8_e4m3 channel", "int8 channel"), ("fp8_e5m2 channel", "int8 channel"), ("mxfp8", "int8 channel"))
#: The kernels a format names (``kernel=`` in ``FORMATS``; default ``"qmatmul"``).
KERNELS = {"qmatmul": qmatmul, "w8a8": w8a8_matmul, "w4a8": w4a8_matmul}


def median_time(fn, *, reps: int = 10, warmup: int = 2, before=None) -> float:
    """Median wall time of ``fn()`` in seconds over ``reps`` calls after ``warmup`` calls.

    ``before``, if given, runs (untimed) before every timed call, e.g. ``evict_caches``.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


#: Bytes read by ``evict_caches``: twice the 32 MB last-level cache of the development machine.
EVICT_BYTES = 64 * 2**20


@functools.lru_cache(maxsize=1)
def _evict_buffer(nbytes: int) -> np.ndarray:
    return np.ones(nbytes // 4, np.float32)


def evict_caches() -> None:
    """Read ``EVICT_BYTES`` of other data, so that the next call finds its weights in memory, not in cache.

    Repeated calls on one matrix keep part of it in the last-level cache (all of it, for a 4-bit
    4096 x 4096 weight of 8.6 MB); in a model, the other layers' weights evict it between two uses.
    """
    _evict_buffer(EVICT_BYTES).sum()


def compare(baseline, candidate, *, rounds: int = 3, reps: int = 10, before=None) -> dict:
    """Median times of both and the median over rounds of ``t_baseline / t_candidate`` (``before``: see ``median_time``)."""
    tb, tc = [], []
    for _ in range(rounds):
        tb.append(median_time(baseline, reps=reps, before=before))
        tc.append(median_time(candidate, reps=reps, before=before))
    ratios = np.array(tb) / np.array(tc)
    return {"t_baseline": float(np.median(tb)), "t_kernel": float(np.median(tc)), "ratio": float(np.median(ratios))}


def streaming_bandwidth(nbytes: int = 512 * 2**20, *, reps: int = 5) -> float:
    """Read bandwidth in GB/s of NumPy's float32 GEMV over an array larger than the caches."""
    rows = nbytes // (4 * 8192)
    a = np.ones((rows, 8192), np.float32)
    v = np.ones(8192, np.float32)
    return a.nbytes / median_time(lambda: a @ v, reps=reps) / 1e9


@dataclasses.dataclass
class BenchRecord:
    shape: tuple[int, int, int]
    fmt: str
    path: str
    weight_bytes: int
    t_numpy_ms: float
    t_kernel_ms: float
    ratio: float
    gbps: float
    bandwidth_fraction: float


def bench_shape(shape, formats=FORMATS, *, bandwidth: float, rounds: int = 3, reps: int = 10, seed: int = 0,
                cold: bool = False) -> list[BenchRecord]:
    """Time every format on one ``(M, K, N)`` shape against ``x @ w`` in float32 (``cold``: ``evict_caches`` before every call)."""
    M, K, N = shape
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((K, N), dtype=np.float32)
    x = rng.standard_normal((M, K), dtype=np.float32)
    records = []
    for label, options in formats:
        options = dict(options)
        kernel = options.pop("kernel", "qmatmul")
        qt = quantize(w, **options)
        result = compare(lambda: x @ w, lambda: KERNELS[kernel](x, qt), rounds=rounds, reps=reps,
                         before=evict_caches if cold else None)
        path = kernel_path(kernel, M, qt) if qt.spec.format == "int" else table_path(qt, M)
        gbps = qt.nbytes / result["t_kernel"] / 1e9
        records.append(BenchRecord(shape, label, path, qt.nbytes, result["t_baseline"] * 1e3, result["t_kernel"] * 1e3,
                                   result["ratio"], gbps, gbps / bandwidth))
    return records


def bench_pairs(shape=(1, 4096, 4096), pairs=PAIRS, *, rounds: int = 3, reps: int = 10, seed: int = 0,
                cold: bool = False) -> list[dict]:
    """Each ``(candidate, baseline)`` of ``pairs`` timed side by side on one shape: ``ratio = t_baseline / t_candidate``.

    A ratio of 1 means the table kernel costs what the integer kernel costs; 0.9 is 10 % slower.
    """
    M, K, N = shape
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((K, N), dtype=np.float32)
    x = rng.standard_normal((M, K), dtype=np.float32)
    options = dict(FORMATS)
    made = {label: quantize(w, **options[label]) for pair in pairs for label in pair}
    rows = []
    for candidate, baseline in pairs:
        qc, qb = made[candidate], made[baseline]
        result = compare(lambda: qmatmul(x, qb), lambda: qmatmul(x, qc), rounds=rounds, reps=reps,
                         before=evict_caches if cold else None)
        rows.append({"shape": shape, "candidate": candidate, "baseline": baseline, "t_candidate_ms": result["t_kernel"] * 1e3,
                     "t_baseline_ms": result["t_baseline"] * 1e3, "ratio": result["ratio"]})
    return rows


def table_path(qt, M: int) -> str:
    """Which path ``qmatmul`` runs for an element-format weight and ``M`` rows, as the benchmark table names it."""
    if M >= PREFILL_M or table_kernel_for(qt) is None:
        return "dequant+BLAS"
    return "table AVX-512" if HAS_AVX512 else "table loop"


def kernel_path(kernel: str, M: int, qt=None) -> str:
    """Which path the kernel named ``kernel`` runs for ``M`` rows of activations, as the benchmark table names it.

    With the weight ``qt``, a fused path names its kernel (``matmul.fused_path``): ``fused t4`` is the
    16-entry-table kernel that serves 4-bit integer weights on AVX-512.
    """
    if kernel == "w8a8":
        return "int32 blocked"
    if kernel == "w4a8":
        return "int8 dot VNNI" if HAS_VNNI else "int8 dot loop"
    if M >= PREFILL_M:
        return "tile+BLAS"
    return "fused" if qt is None else f"fused {fused_path(weight_operands(qt))}"


def crossover(K: int = 4096, N: int = 4096, ms=(1, 2, 4, 8, 16, 32, 64), *, options=None, reps: int = 5) -> list[dict]:
    """Fused kernel against tile+BLAS for growing ``M``: where the prefill path starts to win."""
    options = options or dict(bits=4, group_size=32, scale_dtype=np.float16)
    rng = np.random.default_rng(0)
    op = weight_operands(quantize(rng.standard_normal((K, N), dtype=np.float32), **options))
    rows = []
    for m in ms:
        x = rng.standard_normal((m, K), dtype=np.float32)
        t_fused = median_time(lambda: fused_matmul(x, op), reps=reps)
        t_tiled = median_time(lambda: tiled_matmul(x, op), reps=reps)
        rows.append({"M": m, "fused_ms": t_fused * 1e3, "tiled_ms": t_tiled * 1e3, "faster": "fused" if t_fused < t_tiled else "tile+BLAS"})
    return rows


def interleaved_cost(K: int = 4096, N: int = 4096, *, reps: int = 20) -> dict:
    """The thread hand-over trap: a 4-bit GEMV alone, a NumPy GEMV alone, and the two alternated."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((K, N), dtype=np.float32)
    qt = quantize(w, bits=4, group_size=32, scale_dtype=np.float16)
    x = rng.standard_normal((1, K), dtype=np.float32)
    t_q = median_time(lambda: qmatmul(x, qt), reps=reps)
    t_np = median_time(lambda: x @ w, reps=reps)
    t_both = median_time(lambda: (x @ w, qmatmul(x, qt)), reps=reps)
    return {"kernel_ms": t_q * 1e3, "numpy_ms": t_np * 1e3, "alternated_ms": t_both * 1e3, "penalty": t_both / (t_q + t_np)}


_COMPILE_SNIPPET = """
import time, numpy as np
t0 = time.perf_counter()
import miniquant as mq
from miniquant.kernels import qmatmul, w4a8_matmul, w8a8_matmul
rng = np.random.default_rng(0)
w = rng.standard_normal((256, 64)).astype(np.float32)
x = rng.standard_normal((1, 256)).astype(np.float32)
t1 = time.perf_counter()
for opts in ({opts}):
    qt = mq.quantize(w, **opts)
    qmatmul(x, qt)
    qmatmul(np.resize(x, (32, 256)), qt)
w8a8_matmul(x, mq.quantize(w, bits=8, granularity="channel"))
w4a8_matmul(x, mq.quantize(w, bits=4, group_size=128))
print(time.perf_counter() - t1)
"""


def compile_times() -> dict:
    """First-call time of every kernel in a fresh process: with an empty cache, then a warm one."""
    opts = "dict(bits=8, granularity='channel'), dict(bits=4, group_size=32, scale_dtype=np.float16), dict(bits=3, group_size=32)"
    code = _COMPILE_SNIPPET.format(opts=opts)
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        run = lambda: float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout.split()[-1])  # noqa: E731
        cold = run()
        warm = run()
    return {"cold_s": cold, "warm_s": warm}


def machine_header() -> dict:
    """What the figures depend on: the CPU, what Numba compiles for, its threading layer, and NumPy's BLAS.

    ``cpu`` from ``/proc/cpuinfo`` (else ``platform``); ``numba_target`` (LLVM's name of the CPU Numba
    compiles for) and the AVX-512 features the kernels use; ``threading_layer`` after one parallel call;
    ``blas``: the library, version, architecture kernel and thread count NumPy's BLAS reports through
    ``threadpoolctl``; ``openblas_thread_timeout``: whether miniquant's setting reached OpenBLAS (only if
    miniquant was imported before NumPy).
    """
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next((line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")), cpu)
    except OSError:
        pass
    header = {"cpu": cpu, "cores": os.cpu_count(), "numba_target": None, "features": [], "threading_layer": None,
              "blas": None, "openblas_thread_timeout": os.environ.get("OPENBLAS_THREAD_TIMEOUT")}
    from ..kernels._jit import NUMBA_AVAILABLE

    if NUMBA_AVAILABLE:
        import llvmlite.binding as llvm
        import numba

        from ..kernels import qmatmul as _qmatmul

        features = llvm.get_host_cpu_features()
        header["numba_target"] = llvm.get_host_cpu_name()
        header["features"] = [f for f in ("avx2", "fma", "f16c", "avx512f", "avx512bw", "avx512vnni", "amx-int8")
                              if features.get(f, False)]
        w = quantize(np.ones((1024, 1024), np.float32), bits=8, granularity="channel")
        _qmatmul(np.ones((1, 1024), np.float32), w)          # starts Numba's thread pool (parallel: SERIAL_WORK multiply-adds)
        try:
            header["threading_layer"] = numba.threading_layer()
        except ValueError:
            header["threading_layer"] = "not started"
    try:
        from threadpoolctl import threadpool_info

        blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
        if blas:
            b = blas[0]
            header["blas"] = f"{b.get('internal_api')} {b.get('version')} ({b.get('architecture')}, {b.get('num_threads')} threads, {b.get('threading_layer')})"
    except ImportError:  # pragma: no cover - a dependency
        pass
    return header


def format_header(header: dict) -> str:
    """The benchmark's first lines: ``machine_header`` in words."""
    features = ", ".join(header["features"]) or "none of AVX2/AVX-512"
    return (f"CPU: {header['cpu']} ({header['cores']} cores); Numba compiles for {header['numba_target']} "
            f"({features}), threading layer {header['threading_layer']}\nBLAS: {header['blas']}; "
            f"OPENBLAS_THREAD_TIMEOUT={header['openblas_thread_timeout']}")


#: The decode kernels the import-order benchmark times: a label, ``quantize`` options and the kernel.
IMPORT_ORDER_KERNELS = (
    ("int8 channel", dict(bits=8, granularity="channel"), "qmatmul"),
    ("int4 g32 f16", dict(bits=4, group_size=32, scale_dtype="float16"), "qmatmul"),
    ("int4 g128 f16", dict(bits=4, group_size=128, scale_dtype="float16"), "qmatmul"),
    ("nf4 g64 f16", dict(format="nf4", group_size=64, scale_dtype="float16"), "qmatmul"),
    ("fp8_e4m3 channel", dict(format="fp8_e4m3", granularity="channel"), "qmatmul"),
    ("w8a8 channel", dict(bits=8, granularity="channel"), "w8a8"),
    ("w4a8 g128 f16", dict(bits=4, group_size=128, scale_dtype="float16"), "w4a8"),
)

_IMPORT_ORDER_SNIPPET = """
import json, sys
if sys.argv[1] == "numpy-first":
    import numpy as np
    import miniquant
else:
    import miniquant
    import numpy as np
from miniquant.eval import speed
M, K, N, rounds, reps = (int(v) for v in sys.argv[2:7])
rng = np.random.default_rng(0)
w = rng.standard_normal((K, N), dtype=np.float32)
x = rng.standard_normal((M, K), dtype=np.float32)
out = {}
for label, options, kernel in speed.IMPORT_ORDER_KERNELS:
    qt = miniquant.quantize(w, **options)
    fn = speed.KERNELS[kernel]
    out[label] = speed.compare(lambda: x @ w, lambda: fn(x, qt), rounds=rounds, reps=reps)["ratio"]
print(json.dumps(out))
"""


def import_order_ratios(shape=(1, 4096, 4096), *, rounds: int = 3, reps: int = 10, runs: int = 1) -> list[dict]:
    """Every decode kernel's ratio to NumPy float32 in fresh processes, NumPy imported first and miniquant first.

    Each of ``runs`` rounds starts one process per order (alternating, so that drift on a shared machine
    hits both); a row per kernel holds the median ratio of each order and ``numpy_first / miniquant_first``
    (the issue's target: at least 0.9).
    """
    import miniquant

    M, K, N = shape
    # the child starts as a user's script does: without the variables this process's miniquant set itself
    env = {k: v for k, v in os.environ.items() if k not in miniquant._ENV_SET_BY_MINIQUANT}
    ratios = {"numpy-first": [], "miniquant-first": []}
    for _ in range(runs):
        for order in ratios:
            result = subprocess.run([sys.executable, "-c", _IMPORT_ORDER_SNIPPET, order, str(M), str(K), str(N),
                                     str(rounds), str(reps)], capture_output=True, text=True, env=env)
            if result.returncode != 0:
                raise RuntimeError(f"the {order} benchmark process failed: {result.stderr.strip()[-500:]}")
            ratios[order].append(json.loads(result.stdout.strip().splitlines()[-1]))
    rows = []
    for label, _, _ in IMPORT_ORDER_KERNELS:
        first = float(np.median([r[label] for r in ratios["numpy-first"]]))
        last = float(np.median([r[label] for r in ratios["miniquant-first"]]))
        rows.append({"kernel": label, "numpy_first": first, "miniquant_first": last, "held": first / last})
    return rows


def format_import_order(rows: list[dict], shape) -> str:
    """A printable table of ``import_order_ratios``."""
    lines = [f"import order, {'x'.join(map(str, shape))}: ratio to NumPy float32 in fresh processes",
             f"{'kernel':<18} {'numpy first':>12} {'miniquant first':>16} {'held':>6}"]
    for r in rows:
        lines.append(f"{r['kernel']:<18} {r['numpy_first']:>11.2f}x {r['miniquant_first']:>15.2f}x {r['held']:>6.2f}")
    return "\n".join(lines)


def format_records(records: list[BenchRecord], bandwidth: float) -> str:
    """A printable table of benchmark records."""
    head = f"{'M x K x N':<18} {'format':<19} {'path':<15} {'weight MB':>9} {'numpy ms':>9} {'kernel ms':>10} {'ratio':>6} {'GB/s':>6} {'of BW':>6}"
    lines = [f"measured streaming read bandwidth: {bandwidth:.1f} GB/s", head, "-" * len(head)]
    for r in records:
        shape = "x".join(map(str, r.shape))
        lines.append(
            f"{shape:<18} {r.fmt:<19} {r.path:<15} {r.weight_bytes / 1e6:>9.3g} {r.t_numpy_ms:>9.3f} {r.t_kernel_ms:>10.3f} "
            f"{r.ratio:>5.2f}x {r.gbps:>6.1f} {r.bandwidth_fraction:>5.0%}"
        )
    return "\n".join(lines)


def run_benchmark(shapes=None, *, quick: bool = False, rounds: int = 3, reps: int = 10, cold: bool = False,
                  compile_time: bool = True, progress=None) -> dict:
    """Everything ``miniquant bench`` measures, as one JSON-ready dict.

    ``shapes`` (M, K, N) default to ``DEFAULT_SHAPES`` and the shipped model's own matrices at
    M = 1 (``quick``: two small shapes and few repetitions). Keys: ``bandwidth_gbps``,
    ``records`` (``BenchRecord`` as dicts), ``crossover``, ``interleaved``, ``compile`` (``None``
    without ``compile_time``), ``cold``, ``crossover_k``. ``progress(shape)`` is called after each shape.
    """
    for name, value in (("rounds", rounds), ("reps", reps)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")
    if shapes is None:
        if quick:
            shapes = [(1, 1024, 1024), (64, 1024, 1024)]
        else:
            from ..nn.io import load_default

            shapes = list(DEFAULT_SHAPES) + model_shapes(load_default().config)
    if quick:
        rounds, reps = 2, 3
    bandwidth = streaming_bandwidth(64 * 2**20 if quick else 512 * 2**20)
    records = []
    for shape in shapes:
        records += bench_shape(shape, bandwidth=bandwidth, rounds=rounds, reps=reps, cold=cold)
        if progress is not None:
            progress(shape)
    k = 1024 if quick else 4096
    cross = crossover(k, k, ms=(1, 4, 16, 64) if quick else (1, 2, 4, 8, 16, 32, 64), reps=reps)
    pairs = bench_pairs((1, k, k), rounds=rounds, reps=reps, cold=cold)
    return {"machine": machine_header(), "bandwidth_gbps": bandwidth, "cold": cold,
            "records": [dataclasses.asdict(r) for r in records],
            "pairs": pairs, "crossover_k": k, "crossover": cross, "interleaved": interleaved_cost(k, k),
            "compile": compile_times() if compile_time else None}


def format_benchmark(result: dict) -> str:
    """The report ``miniquant bench`` prints for a ``run_benchmark`` result."""
    lines = [format_header(result["machine"])] if result.get("machine") else []
    if result["cold"]:
        lines.append(f"cold caches: {EVICT_BYTES // 2**20} MB of other data are read before every timed call")
    lines.append(format_records([BenchRecord(**r) for r in result["records"]], result["bandwidth_gbps"]))
    k = result["crossover_k"]
    if result.get("pairs"):
        lines.append(f"\ntable kernels against their integer twins, side by side (1 x {k} x {k}; ratio = t_twin / t_table):")
        for row in result["pairs"]:
            lines.append(f"  {row['candidate']:<17} {row['t_candidate_ms']:8.3f} ms   {row['baseline']:<13} "
                         f"{row['t_baseline_ms']:8.3f} ms   ratio {row['ratio']:.2f}")
    lines.append(f"\nfused kernel vs tile+BLAS, 4-bit g32, K = N = {k} (the library switches at M = {PREFILL_M}):")
    for row in result["crossover"]:
        lines.append(f"  M = {row['M']:>3}: fused {row['fused_ms']:8.3f} ms   tile+BLAS {row['tiled_ms']:8.3f} ms   -> {row['faster']}")
    inter = result["interleaved"]
    lines.append(f"\nalternating NumPy and Numba calls (4-bit GEMV {k}x{k}): kernel alone {inter['kernel_ms']:.3f} ms, "
                 f"NumPy alone {inter['numpy_ms']:.3f} ms, alternated {inter['alternated_ms']:.3f} ms per pair "
                 f"({inter['penalty']:.2f}x the sum)")
    if result["compile"]:
        c = result["compile"]
        lines.append(f"\nNumba compile time of the kernels in a fresh process: cold cache {c['cold_s']:.1f} s, "
                     f"warm cache {c['warm_s']:.2f} s")
    return "\n".join(lines)
