"""Benchmark: AdaProxy's closed form against the paper's own formulation solved by cvxpy.

OneProxy (Lu et al., SIGMETRICS 2022) adapts a proxy's operator-level linear predictor w (NB201
one-hot, 31 columns with the bias) to a target from n measured architectures by solving, for each
λ of a sweep, the second-order cone program

    min over a, b, c of  ‖y − Z(a·1 + b) − c‖² + λ‖b‖₂,     Z = X ⊙ w (unsquared norm),

and keeping the λ that validates best. The authors' code solves it with cvxpy, one problem per λ.
Their notebook (Ren-Research/OneProxy, example.ipynb) works in seconds, divides the squared error
by n and sweeps λ from 1 to 1e5; there λ_max (below) is about 6e-7 (Myriad VPU → GTX 1080 Ti,
60 samples), so b = 0 at every λ of that grid. The reference therefore uses a grid relative to
λ_max (the 1/n only rescales λ).

Reference (a): that objective in cvxpy with its default solver (named in the output), compiled
once per n with parameters and re-solved for each λ of `N_LAMBDAS` values log-spaced from
λ_max·`LAMBDA_RATIO` to λ_max, where λ_max = 2‖Zᵀr₀‖ is the least λ at which b = 0 (r₀: the
residual of the scaled proxy a·s + c), so the grid ends at the scaled proxy. λ is chosen with the
same selection budget as ours: exact leave-one-out over the n samples (n + 1 solves per λ), by
three rules: least LOO MSE (``min``), the one-standard-error rule (``1se``, our default) and the
highest SRCC of the LOO predictions (``srcc``, the authors' criterion, who validate by SRCC).
The ``min`` rule often keeps the grid's lowest λ, where the fit has reached its λ → 0 limit:
extending the grid to 1e-6·λ_max moved no mean SRCC by more than 0.002 (10 seeds).

Ours: (b) `analytics.adaproxy.AdaProxy` with the same one-hot X and proxy weights w (penalty
λ‖b‖², its 49-λ grid solved from one SVD with exact LOO), by rule ``1se`` and ``min``; (c)
`analytics.adaptation.adapt(..., strategy="auto")`. Scores are SRCC on the target's architectures
outside the n samples, drawn by `analytics.evaluate.draw_samples` (as the protocols do).

Speed, in the same run: one cvxpy solve at one λ against our fit at one λ (which includes its
SVD and LOO), and the cvxpy sweep + LOO selection against our whole-grid LOO fit. Run from the
repository root (cvxpy comes with the `bench` extra):

    python -m bench.adaproxy --warehouse DIR [--quick] [--seeds N]
"""

import time
from dataclasses import dataclass
from pathlib import Path

import click
import cvxpy as cp
import numpy as np
import polars as pl
from oneproxy.analytics.adaproxy import AdaProxy
from oneproxy.analytics.adaptation import ProxyModels, candidates
from oneproxy.analytics.evaluate import draw_samples
from oneproxy.analytics.predictors.encodings import space_features
from scipy.stats import spearmanr

from bench.common import best_time, read

ONEPROXY_PROXY = "nnmeter_myriadvpu"
ONEPROXY_TARGETS = ("eagle_gtx1080ti", "pixel3", "raspi4", "fpga", "nnmeter_adreno640")
PAIRS = (*((ONEPROXY_PROXY, t) for t in ONEPROXY_TARGETS), ("pixel3", "raspi4"))
SAMPLES = (10, 20)
N_LAMBDAS = 30
LAMBDA_RATIO = 1e-4
RULES = ("min", "1se", "srcc")
METHODS = ("proxy", *(f"cvxpy {r}" for r in RULES), "ours 1se", "ours min", "adapt auto")
SOLVED = (cp.OPTIMAL, cp.OPTIMAL_INACCURATE)
OUR_REPEATS = 5
COMPARISONS = (  # (ours, reference): same rule, then ours against the authors' SRCC criterion
    ("ours 1se", "cvxpy 1se"), ("ours min", "cvxpy min"), ("ours 1se", "cvxpy srcc"),
    ("adapt auto", "cvxpy srcc"),
)


class PaperProblem:
    """min ‖m ⊙ (y − Z(a·1 + b) − c)‖² + penalty(b) over n rows; m = 0 leaves a row out.

    The penalty is λ‖b‖₂ (the paper) or λ‖b‖² (ours, for the cross-check). The problem is
    parametrised (DPP), so cvxpy compiles it once and each `solve` only maps new data.
    """

    def __init__(self, n: int, d: int, penalty: str = "norm") -> None:
        self.mask, self.y = cp.Parameter(n), cp.Parameter(n)
        self.Z, self.lam = cp.Parameter((n, d)), cp.Parameter(nonneg=True)
        self.a, self.b, self.c = cp.Variable(), cp.Variable(d), cp.Variable()
        residual = self.y - self.Z @ (self.a * np.ones(d) + self.b) - self.c * self.mask
        size = cp.norm(self.b, 2) if penalty == "norm" else cp.sum_squares(self.b)
        self.problem = cp.Problem(cp.Minimize(cp.sum_squares(residual) + self.lam * size))
        self.not_solved = 0

    def solve(self, Z: np.ndarray, y: np.ndarray, mask: np.ndarray, lam: float
              ) -> tuple[np.ndarray, float]:
        """Per-feature scale a·1 + b and intercept c (NaN when the solver fails)."""
        self.mask.value, self.y.value, self.Z.value = mask, mask * y, mask[:, None] * Z
        self.lam.value = lam
        self.problem.solve()
        if self.problem.status not in SOLVED:
            self.not_solved += 1
            return np.full(Z.shape[1], np.nan), np.nan
        return self.a.value + self.b.value, float(self.c.value)

    @property
    def solver(self) -> str:
        return self.problem.solver_stats.solver_name


@dataclass(frozen=True)
class ReferencePath:
    """The cvxpy sweep on n samples: full-sample fits and LOO predictions per λ."""

    lambdas: np.ndarray  # L
    scale: np.ndarray  # L × d, a·1 + b fitted on all n samples
    intercept: np.ndarray  # L
    loo_pred: np.ndarray  # L × n, prediction of each sample by the fit without it
    solve_seconds: np.ndarray  # L, wall time of each full-sample solve


def paper_lambdas(Z: np.ndarray, y: np.ndarray) -> np.ndarray:
    """`N_LAMBDAS` penalties log-spaced up to λ_max = 2‖Zᵀr₀‖, where b = 0 becomes optimal."""
    base = np.column_stack([np.ones(y.size), Z.sum(axis=1)])
    r0 = y - base @ np.linalg.lstsq(base, y, rcond=None)[0]
    return 2 * np.linalg.norm(Z.T @ r0) * np.logspace(np.log10(LAMBDA_RATIO), 0, N_LAMBDAS)


def reference_path(problem: PaperProblem, Z: np.ndarray, y: np.ndarray) -> ReferencePath:
    """Solve every λ on all n samples and on each leave-one-out subset: (n + 1)·L solves."""
    n, d = Z.shape
    lambdas = paper_lambdas(Z, y)
    scale, intercept = np.empty((lambdas.size, d)), np.empty(lambdas.size)
    loo_pred, seconds = np.empty((lambdas.size, n)), np.empty(lambdas.size)
    for j, lam in enumerate(lambdas):
        start = time.perf_counter()
        scale[j], intercept[j] = problem.solve(Z, y, np.ones(n), lam)
        seconds[j] = time.perf_counter() - start
        for i in range(n):
            mask = np.ones(n)
            mask[i] = 0.0
            left_out_scale, left_out_c = problem.solve(Z, y, mask, lam)
            loo_pred[j, i] = Z[i] @ left_out_scale + left_out_c
    return ReferencePath(lambdas, scale, intercept, loo_pred, seconds)


def choose(path: ReferencePath, y: np.ndarray, rule: str) -> int:
    """Index of the λ a selection rule keeps; ties go to the larger λ (the simpler model)."""
    residuals = y - path.loo_pred
    mse = np.mean(residuals**2, axis=1)
    if rule == "srcc":
        score = np.array([_srcc(p, y) for p in path.loo_pred])
    elif rule == "min":
        score = -mse
    else:
        best = int(np.nanargmin(mse))
        squared = residuals[best] ** 2
        score = (mse <= mse[best] + np.std(squared, ddof=1) / np.sqrt(y.size)).astype(float)
    score = np.where(np.isnan(score), -np.inf, score)
    return int(score.size - 1 - np.argmax(score[::-1]))


def _srcc(predicted: np.ndarray, true: np.ndarray) -> float:
    if not np.isfinite(predicted).all() or np.ptp(predicted) == 0:
        return np.nan
    return float(spearmanr(predicted, true).statistic)


@dataclass(frozen=True)
class Pair:
    """One proxy → target pair over the architectures both measured."""

    proxy: str
    target: str
    X: np.ndarray  # one-hot, archs × 31
    w: np.ndarray  # the proxy's linear weights (the same for the reference and ours)
    proxy_latency: np.ndarray  # ms per arch
    true: np.ndarray  # the target's ms per arch
    models: ProxyModels


def load_latency(warehouse: Path, devices: list[str]) -> pl.DataFrame:
    """arch_id, arch_key and one latency column (ms) per device: NAS-Bench-201 on CIFAR-10."""
    frame = read(warehouse, "SELECT l.arch_id, a.arch_key, l.device_id, l.latency_ms "
                 "FROM latency l JOIN architectures a USING (space_id, arch_id) "
                 "WHERE l.space_id = 'nb201' AND l.dataset = 'cifar10' "
                 "AND list_contains(?, l.device_id)", [devices])
    missing = sorted(set(devices) - set(frame["device_id"].unique()))
    if missing:
        raise click.ClickException(
            f"{warehouse} has no nb201 latency of device '{missing[0]}'; ingest its source"
        )
    return frame.pivot(on="device_id", index=["arch_id", "arch_key"], values="latency_ms")


def make_pair(table: pl.DataFrame, proxy: str, target: str) -> Pair:
    both = table.filter(pl.col(proxy).is_not_null() & pl.col(target).is_not_null())
    features = space_features("nb201", both["arch_key"].to_list())
    proxy_latency = both[proxy].to_numpy()
    models = ProxyModels.of(features, proxy_latency)
    return Pair(proxy, target, features.matrix("onehot"), models.linear_coef("onehot"),
                proxy_latency, both[target].to_numpy(), models)


def run_fit(pair: Pair, n: int, seed: int, problems: dict[str, PaperProblem]
            ) -> tuple[dict[str, float], dict[str, float]]:
    """SRCC of every method on the held-out architectures, and the timings of this fit."""
    idx = draw_samples(np.arange(pair.true.size), n, seed)
    y, X = pair.true[idx], pair.X[idx]
    Z, Z_all = X * pair.w, pair.X * pair.w
    start = time.perf_counter()
    path = reference_path(problems["norm"], Z, y)
    chosen = {rule: choose(path, y, rule) for rule in RULES}
    cvxpy_path = time.perf_counter() - start
    predicted = {"proxy": pair.proxy_latency}
    for rule, j in chosen.items():
        predicted[f"cvxpy {rule}"] = Z_all @ path.scale[j] + path.intercept[j]
    ours = AdaProxy().fit(X, y, pair.w)
    predicted["ours 1se"] = ours.predict(pair.X)
    predicted["ours min"] = AdaProxy(selection="min").fit(X, y, pair.w).predict(pair.X)
    predicted["adapt auto"] = pair.models.adapt(idx, y, strategy="auto").predicted
    held = np.ones(pair.true.size, dtype=bool)
    held[idx] = False
    srcc = {m: _srcc(p[held], pair.true[held]) for m, p in predicted.items()}
    one_lambda = np.array([path.lambdas[chosen["1se"]]])
    timing = {
        "cvxpy_solve": float(np.median(path.solve_seconds)),
        "cvxpy_path": cvxpy_path,
        "ours_lambda": best_time(lambda: AdaProxy(one_lambda).fit(X, y, pair.w), OUR_REPEATS)[0],
        "ours_path": best_time(lambda: AdaProxy().fit(X, y, pair.w), OUR_REPEATS)[0],
        "auto_path": best_time(lambda: pair.models.adapt(idx, y), OUR_REPEATS)[0],
        **{f"lowest λ {rule}": float(j == 0) for rule, j in chosen.items()},
        "squared_gap": squared_gap(problems["squared"], ours, Z, y, pair.w),
    }
    return srcc, timing


def squared_gap(problem: PaperProblem, ours: AdaProxy, Z: np.ndarray, y: np.ndarray,
                w: np.ndarray) -> float:
    """Largest |Δ| of the target weights between cvxpy with λ‖b‖² and our closed form at our λ,
    relative to the largest weight (NaN when ours kept the scaled proxy, λ = ∞)."""
    if ours.proxy_only_:
        return np.nan
    scale, c = problem.solve(Z, y, np.ones(y.size), ours.lambda_)
    ref = np.append(w * scale, c)
    return float(np.abs(ref - np.append(ours.coef_, ours.c_)).max() / np.abs(ref).max())


def print_quality(scores: pl.DataFrame) -> None:
    means = (scores.group_by("pair", "n", maintain_order=True)
             .agg(pl.len().alias("seeds"), *(pl.col(m).mean() for m in METHODS)))
    overall = (scores.group_by("n", maintain_order=True)
               .agg(pl.lit("mean of the pairs").alias("pair"), pl.len().alias("seeds"),
                    *(pl.col(m).mean() for m in METHODS)))
    width = max(means["pair"].str.len_chars().max(), 16) + 2
    header = f"{'proxy → target (archs)':<{width}}{'n':>3}{'fits':>5}" + "".join(
        f"{m:>11}" for m in METHODS)
    click.echo("\nMean SRCC on the architectures outside the samples:")
    click.echo(header)
    click.echo("-" * len(header))
    for frame in (means, overall.select(means.columns)):
        for row in frame.iter_rows(named=True):
            click.echo(f"{row['pair']:<{width}}{row['n']:>3}{row['seeds']:>5}"
                       + "".join(f"{row[m]:>11.3f}" for m in METHODS))
    click.echo("\nPaired differences in SRCC, per fit (± standard error of the mean):")
    for ours, ref in COMPARISONS:
        for n, part in scores.group_by("n", maintain_order=True):
            diff = part[ours] - part[ref]
            click.echo(
                f"  {ours:<10} − {ref:<10} n={n[0]:>2}: {diff.mean():+.4f} ± "
                f"{diff.std() / np.sqrt(diff.len()):.4f}; better / tied (±0.001) / worse in "
                f"{(diff > 1e-3).sum():>2} / {(diff.abs() <= 1e-3).sum():>2} / "
                f"{(diff < -1e-3).sum():>2} of {diff.len()}"
            )


def print_speed(timings: pl.DataFrame, solver: str, compile_seconds: float) -> None:
    click.echo(f"\nSpeed (median over fits; ours best of {OUR_REPEATS} calls per fit; cvxpy "
               f"solver {solver}, first solve with compilation {compile_seconds * 1e3:.0f} ms):")
    per_n = timings.group_by("n", maintain_order=True).agg(pl.all().median())
    for t in per_n.iter_rows(named=True):
        click.echo(
            f"  n={t['n']:>2}  one λ: cvxpy solve {t['cvxpy_solve'] * 1e3:7.2f} ms, ours "
            f"{t['ours_lambda'] * 1e3:6.3f} ms  → {t['cvxpy_solve'] / t['ours_lambda']:6.1f}x\n"
            f"        whole path: cvxpy {N_LAMBDAS} λ × {t['n'] + 1} solves + LOO choice "
            f"{t['cvxpy_path']:6.3f} s, ours 49 λ with exact LOO {t['ours_path'] * 1e3:6.3f} ms"
            f"  → {t['cvxpy_path'] / t['ours_path']:,.0f}x;  adapt auto "
            f"({len(candidates('auto'))} candidates) "
            f"{t['auto_path'] * 1e3:.2f} ms → {t['cvxpy_path'] / t['auto_path']:,.0f}x"
        )


@click.command()
@click.option("--warehouse", type=click.Path(file_okay=False, path_type=Path),
              default=Path("oneproxy-warehouse"), envvar="ONEPROXY_WAREHOUSE", show_default=True,
              help="Warehouse directory holding catalog.duckdb.")
@click.option("--seeds", default=10, show_default=True, help="Sample draws per pair and n.")
@click.option("--quick", is_flag=True, help="3 seeds instead of --seeds.")
def main(warehouse: Path, seeds: int, quick: bool) -> None:
    """Compare AdaProxy's closed form with the paper's cvxpy formulation: SRCC and time."""
    seeds = 3 if quick else seeds
    started = time.perf_counter()
    table = load_latency(warehouse, sorted({d for pair in PAIRS for d in pair}))
    problems = {n: {p: PaperProblem(n, 31, p) for p in ("norm", "squared")} for n in SAMPLES}
    compile_seconds = []
    for n, pair_problems in problems.items():  # compile outside the timed fits
        for problem in pair_problems.values():
            start = time.perf_counter()
            problem.solve(np.eye(n, 31), np.arange(n, dtype=float), np.ones(n), 1.0)
            compile_seconds.append(time.perf_counter() - start)
    scores, timings = [], []
    for proxy, target in PAIRS:
        pair = make_pair(table, proxy, target)
        name = f"{proxy} → {target} ({pair.true.size:,})"
        click.echo(f"{name}: {len(SAMPLES)} n × {seeds} seeds", err=True)
        for n in SAMPLES:
            for seed in range(seeds):
                srcc, timing = run_fit(pair, n, seed, problems[n])
                scores.append({"pair": name, "n": n, "seed": seed, **srcc})
                timings.append({"pair": name, "n": n, **timing})
    score_frame, timing_frame = pl.DataFrame(scores), pl.DataFrame(timings)
    solver = problems[SAMPLES[0]]["norm"].solver
    not_solved = sum(p.not_solved for pp in problems.values() for p in pp.values())
    click.echo(
        f"Reference: cvxpy {cp.__version__}, {solver}; {N_LAMBDAS} λ log-spaced over "
        f"[{LAMBDA_RATIO:g}, 1]·λ_max per fit, λ by exact LOO on the n samples; "
        f"{not_solved} solves not optimal. Ours: AdaProxy (λ‖b‖², 49 λ, exact LOO)."
    )
    print_quality(score_frame)
    gap = timing_frame["squared_gap"].drop_nans()
    lowest = ", ".join(f"{r} {int(timing_frame[f'lowest λ {r}'].sum())}" for r in RULES)
    click.echo(
        f"\nCross-check: cvxpy with λ‖b‖² at our chosen λ gives our target weights to "
        f"{gap.max():.1e} (max relative |Δ|, {gap.len()} fits with λ < ∞).\nReference fits "
        f"that chose the lowest λ of the grid (of {timing_frame.height}): {lowest}."
    )
    print_speed(timing_frame.select("n", "cvxpy_solve", "cvxpy_path", "ours_lambda",
                                    "ours_path", "auto_path"), solver, max(compile_seconds))
    click.echo(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
