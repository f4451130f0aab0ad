"""Forward selection of CNN feature maps for full-reference IQA, with held-out evaluation.

**Method** (the paper "What are we looking at? ... feature maps", Methodology steps 1-8). The input is a
score matrix ``Q`` [n_images, n_maps]: the quality of each test image measured on one feature map (e.g. SSIM
between the test and reference image's maps). Selection starts from an empty set S. Each step scores every
remaining map j at once: the set score of image i is the **mean** of ``Q[i, S + {j}]`` (``combine="mean"``;
``"sum"`` is offered too and gives the same PLCC for the same set size, because the criterion below is
invariant to an affine rescaling of the score). The candidates' set scores come from a running sum of the
selected columns, never recomputed from scratch. The criterion is the **non-linear PLCC**: the Pearson
correlation between the subjective scores and the set score mapped by the 5-parameter logistic of Sheikh et al.
2006 fitted to them. The map with the highest criterion is added; the paper's first pick (steps 4-5, the best
single map) is the same rule with S empty. **Stop rule**: stop when the best candidate improves the criterion
by no more than ``min_gain`` (the paper: "does not result in an increase"), when ``max_maps`` maps are chosen,
or when no candidate is left.

**Fitter** (:func:`fit_logistic5_batch`, the hot path; predictors as rows, X [M, N]). Each predictor and the
subjective scores are standardised. The logistic ``b1 (1/2 - 1/(1 + exp(b2 (x - b3)))) + b4 x + b5`` is linear
in b1, b4, b5, so for fixed (b2, b3) those follow from least squares (variable projection): with ``1`` and
``x`` projected out, the squared error is a closed form in a few inner products, and the fit is a 2-parameter
problem in (log b2, b3). Batching: the predictors are processed in cache-sized chunks (a few MB on a CPU),
each chunk's inner products come from one batched 4x4 Gram matrix per iteration (float64 torch, any device),
and every predictor takes its own Levenberg-Marquardt steps (Kaufman's Jacobian, Nielsen's damping update,
steps limited to a trust box) and leaves the batch when it has converged. Starts: the squared error is screened
at a grid of :data:`DEFAULT_STARTS` (slopes 1, 4, 16 x centres -1.5 .. 1.5 in standardised units; refining
only the two starts of :func:`iqaxai.stats.fit_logistic5`, slopes 1 and 4 at the mean, misses the best basin
for sigmoids centred near the edge of the data), the :data:`REFINE` best are refined, the best end point wins. The sign
of the slope does not matter (b1 absorbs it). Bounds, in standardised units: slope in :data:`C2_RANGE`
([0.05, 50]) and centre within the data's range, so nearly linear data cannot run away; scipy's unbounded
first attempt in :mod:`iqaxai.stats` can leave these bounds and then scores slightly higher. b2 >= 0 is
reported. Forward selection starts each step after the first from the previous step's optimum (``warm``),
optionally plus the grid (``all``). On a CPU the calls run with one torch thread by default (``threads``;
restored afterwards): the work is many small cache-sized operations, for which more threads gain little and
lose badly on a busy machine.

**Fallback**. The logistic family contains every linear map (b1 = 0), and the PLCC is computed as
``sqrt(r^2 + (1 - r^2) c)``, with r the linear PLCC and c in [0, 1] the share of the linear fit's residual that
the logistic term explains, so the non-linear PLCC is never below ``|r|``; a fit that degenerates (the logistic
term constant or linear on the data) gives c = 0, i.e. the linear PLCC. A predictor that is constant (standard
deviation <= 1e-12 of its largest magnitude) has no correlation: its PLCC is ``-inf`` and its parameters those
of the best constant, and forward selection excludes constant columns from the candidates.

**Held-out evaluation** (beyond the paper, whose numbers are in-sample): :func:`kfold_selection` selects on
training folds of the reference contents and scores the selected set against all maps on the held-out folds;
:func:`cross_dataset_selection` selects on one dataset and scores on another; :func:`in_sample_selection` is the
paper's protocol in the same columns. On an evaluation part, the logistic is fitted on that part (for the
selected set and for all maps alike), as IQA practice does for any model; only the choice of maps is held out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from numpy.typing import ArrayLike

__all__ = [
    "C2_RANGE",
    "DEFAULT_STARTS",
    "REFINE",
    "COMBINE",
    "Combine",
    "PROTOCOL_COLUMNS",
    "Selection",
    "fit_logistic5_batch",
    "forward_selection",
    "forward_selection_loop",
    "set_plcc",
    "group_folds",
    "in_sample_selection",
    "kfold_selection",
    "cross_dataset_selection",
    "planted_q",
]

MIN_IMAGES = 5
C2_RANGE = (0.05, 50.0)
"""Bounds of the logistic's slope b2 in standardised units (the centre b3 stays within the data's range)."""
DEFAULT_STARTS: tuple[tuple[float, float], ...] = tuple(
    (slope, centre) for slope in (1.0, 4.0, 16.0) for centre in (-1.5, -0.75, 0.0, 0.75, 1.5))
"""Starting (slope, centre) pairs of the fit in standardised units: a grid screened at once."""
REFINE = 4
"""How many of the best screened starts Levenberg-Marquardt refines per predictor."""
CONSTANT_RTOL = 1e-12
_CHUNK_ELEMENTS = {"cpu": 1 << 18, "cuda": 1 << 24}  # rows x images per batch: cache-sized on a CPU
_DEGENERATE_RTOL = 1e-13
_MAX_STEP = 0.7  # largest change of log(slope) and of the centre (in standard deviations) per step
_LAMBDA0, _LAMBDA_MIN, _LAMBDA_MAX = 1e-3, 1e-9, 1e12


# ----------------------------------------------------------------------------------------------- fitter


@contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads (restored afterwards); None leaves the setting alone."""
    if n is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _device(device: str | torch.device) -> torch.device:
    """The torch device for a name or device."""
    return device if isinstance(device, torch.device) else torch.device(device)


def _solve2(A: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Solutions of the 2x2 systems A [R, 2, 2] x = b [R, 2] (closed form; a singular system gives 0)."""
    det = A[:, 0, 0] * A[:, 1, 1] - A[:, 0, 1] * A[:, 1, 0]
    ok = det.abs() > 0
    det = torch.where(ok, det, torch.ones_like(det))
    x0 = (A[:, 1, 1] * b[:, 0] - A[:, 0, 1] * b[:, 1]) / det
    x1 = (A[:, 0, 0] * b[:, 1] - A[:, 1, 0] * b[:, 0]) / det
    return torch.where(ok[:, None], torch.stack([x0, x1], 1), torch.zeros_like(b))


class _Block:
    """Standardised predictors x [R, N] against standardised scores y [N], with their fixed inner products.

    ``z`` [R, 4, N] is the work buffer of :func:`_evaluate`; its last row holds x.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        r, n = x.shape
        self.y = y
        self.z = torch.empty((r, 4, n), dtype=x.dtype, device=x.device)
        self.z[:, 3] = x
        sx, sxx, sxy = x.sum(1), (x * x).sum(1), x @ y
        self.cy = torch.stack([sxy, y.sum().expand_as(sxy)], 1)  # [R, 2]: y against the basis (x, 1)
        gb = torch.stack([torch.stack([sxx, sx], 1), torch.stack([sx, torch.full_like(sx, n)], 1)], 1)
        self.binv = torch.linalg.inv(gb)  # [R, 2, 2]
        self.sst = float(y @ y - y.sum() ** 2 / n)  # total sum of squares of y
        # residual sum of squares of the linear fit: y projected off span(x, 1)
        self.yyp = (float(y @ y) - torch.einsum("ri,rij,rj->r", self.cy, self.binv, self.cy)).clamp_min(0)
        self.lower = torch.stack([torch.full_like(sx, np.log(C2_RANGE[0])), x.amin(1)], 1)
        self.upper = torch.stack([torch.full_like(sx, np.log(C2_RANGE[1])), x.amax(1)], 1)

    @property
    def x(self) -> torch.Tensor:
        """The standardised predictors [R, N]."""
        return self.z[:, 3]

    def take(self, idx: torch.Tensor) -> "_Block":
        """The same block restricted to the rows ``idx``."""
        out = _Block.__new__(_Block)
        out.y, out.sst = self.y, self.sst
        for name in ("z", "cy", "binv", "yyp", "lower", "upper"):
            setattr(out, name, getattr(self, name)[idx])
        return out


def _evaluate(b: _Block, theta: torch.Tensor) -> dict[str, torch.Tensor]:
    """Squared error, gradient, Gauss-Newton matrix and linear coefficients at theta [R, 2] = (log slope, centre).

    With u = slope (x - centre) and p = sigmoid(u) - 1/2 (the logistic term, b1 = 1), the term is used
    without its linear part, g = p - u/4 (the same span once 1 and x are projected out, and no cancellation
    against x for small slopes): dg/dlog(slope) = -p^2 u and dg/dcentre = slope p^2.
    All inner products come from one batched 4x4 Gram matrix of (g, p^2 u, p^2, x) plus sums and products with y.
    """
    z = b.z
    c2, c3 = theta[:, 0:1].exp(), theta[:, 1:2]
    u = torch.addcmul(-c2 * c3, z[:, 3], c2)
    p = torch.sigmoid(u, out=z[:, 0]).sub_(0.5)
    w = torch.mul(p, p, out=z[:, 2])
    torch.mul(w, u, out=z[:, 1])
    p.add_(u, alpha=-0.25)  # row 0 is now g
    gram = torch.bmm(z, z.transpose(1, 2))  # [R, 4, 4]
    vy = torch.matmul(z, b.y)[:, :3]  # [R, 3]
    v1 = z.sum(2)[:, :3]
    C = torch.stack([gram[:, :3, 3], v1], 2)  # [R, 3, 2]: rows against the basis (x, 1)
    CB = torch.bmm(C, b.binv)
    pvv = gram[:, :3, :3] - torch.bmm(CB, C.transpose(1, 2))
    pvy = vy - torch.bmm(CB, b.cy[:, :, None])[:, :, 0]
    # rescale rows 1, 2 to the derivatives
    s = torch.stack([torch.ones_like(c2[:, 0]), -torch.ones_like(c2[:, 0]), c2[:, 0]], 1)  # [R, 3]
    pss = pvv * s[:, :, None] * s[:, None, :]
    psy = pvy * s
    gg, gy = pss[:, 0, 0], psy[:, 0]
    ok = (gg > _DEGENERATE_RTOL * gram[:, 0, 0]) & (gg > 0)
    gg_safe = torch.where(ok, gg, torch.ones_like(gg))
    a = torch.where(ok, gy / gg_safe, torch.zeros_like(gy))
    sse = torch.minimum((b.yyp - a * gy).clamp_min(0), b.yyp)
    gd, dd, dy = pss[:, 0, 1:], pss[:, 1:, 1:], psy[:, 1:]
    grad = -a[:, None] * (dy - a[:, None] * gd)
    H = a[:, None, None] ** 2 * (dd - gd[:, :, None] * gd[:, None, :] / gg_safe[:, None, None])
    # coefficients of (x, 1) once a g is removed: binv (cy - a C[:, 0])
    lin = torch.bmm(b.binv, (b.cy - a[:, None] * C[:, 0, :])[:, :, None])[:, :, 0]
    return {"sse": sse, "grad": grad, "H": H, "a": a, "lin": lin}


def _objective(b: _Block, slope: float, centre: float) -> torch.Tensor:
    """Squared error [R] of every row at one start (the centre clamped into each row's range); no derivatives."""
    x = b.x
    c3 = torch.clamp(torch.full_like(b.yyp, centre), b.lower[:, 1], b.upper[:, 1])[:, None]
    u = torch.sub(x, c3).mul_(slope)
    g = torch.sigmoid(u).sub_(0.5).add_(u, alpha=-0.25)
    C = torch.stack([torch.linalg.vecdot(g, x), g.sum(1)], 1)  # against the basis (x, 1)
    CB = torch.bmm(C[:, None, :], b.binv)[:, 0, :]
    gg = torch.linalg.vecdot(g, g) - (CB * C).sum(1)
    gy = g @ b.y - (CB * b.cy).sum(1)
    ok = (gg > _DEGENERATE_RTOL * torch.linalg.vecdot(g, g)) & (gg > 0)
    gain = torch.where(ok, gy * gy / torch.where(ok, gg, torch.ones_like(gg)), torch.zeros_like(gg))
    return (b.yyp - gain).clamp_min(0)


def _lm_step(theta: torch.Tensor, state: dict[str, torch.Tensor], lam: torch.Tensor,
             b: _Block) -> tuple[torch.Tensor, torch.Tensor]:
    """Damped Gauss-Newton trial point and its predicted decrease; a component at a bound it would leave is held."""
    grad, H = state["grad"], state["H"]
    held = ((theta <= b.lower) & (grad > 0)) | ((theta >= b.upper) & (grad < 0))
    diag = torch.diagonal(H, dim1=1, dim2=2)
    scale = diag.clamp_min(1e-300) + 1e-12 * diag.abs().amax(1, keepdim=True)
    free = (~held).to(H.dtype)
    A = (H + torch.diag_embed(lam[:, None] * scale)) * free[:, :, None] * free[:, None, :]
    A = A + torch.diag_embed(1.0 - free)
    step = _solve2(A, -grad * free)
    step = step / (step.abs() / _MAX_STEP).amax(1, keepdim=True).clamp_min(1.0)  # inside the trust box
    trial = torch.minimum(torch.maximum(theta + step, b.lower), b.upper)
    step = trial - theta
    predicted = -(grad * step).sum(1) - 0.5 * torch.einsum("ri,rij,rj->r", step, H, step)
    return trial, predicted


def _store(idx: torch.Tensor, theta: torch.Tensor, state: dict[str, torch.Tensor], mask: torch.Tensor,
           out_theta: torch.Tensor, out_sse: torch.Tensor, out_a: torch.Tensor, out_lin: torch.Tensor) -> None:
    """Copy the finished rows ``mask`` of the current state to the outputs at ``idx``."""
    out_theta[idx], out_sse[idx] = theta, state["sse"][mask]
    out_a[idx], out_lin[idx] = state["a"][mask], state["lin"][mask]


def _fit_block(x: torch.Tensor, y: torch.Tensor, starts: torch.Tensor, max_iter: int, ftol: float,
               refine: int) -> tuple[torch.Tensor, ...]:
    """Fit standardised, non-constant rows x [M, N] to standardised y from ``starts`` [S, 2] (log slope, centre).

    The squared error is screened at every start; Levenberg-Marquardt runs from the ``refine`` best ones and
    the best end point wins. A run stops when an accepted step, or the predicted decrease of the next one, is
    <= ftol x total sum of squares. Returns (theta [M, 2], sse [M], a [M], lin [M, 2], evaluations [M]) in
    standardised units.
    """
    rows, s = x.shape[0], starts.shape[0]
    blk = _Block(x, y)
    k = max(1, min(s, refine))
    if s == 1:
        theta = starts.expand(rows, 2)
    else:
        slopes, centres = starts[:, 0].exp().tolist(), starts[:, 1].tolist()
        sse = torch.stack([_objective(blk, sl, ce) for sl, ce in zip(slopes, centres)], 1)  # [rows, S]
        pick = sse.topk(k, dim=1, largest=False, sorted=True).indices.reshape(-1)
        theta = starts[pick]
        if k > 1:
            blk = blk.take(torch.arange(rows, device=x.device).repeat_interleave(k))
    theta = torch.minimum(torch.maximum(theta, blk.lower), blk.upper)
    state = _evaluate(blk, theta)
    m = rows * k
    out_theta = theta.clone()
    out_sse, out_a, out_lin = state["sse"].clone(), state["a"].clone(), state["lin"].clone()
    out_eval = torch.zeros(m, dtype=torch.long, device=x.device)
    active = torch.arange(m, device=x.device)
    lam = torch.full((m,), _LAMBDA0, dtype=x.dtype, device=x.device)
    nu = torch.full((m,), 2.0, dtype=x.dtype, device=x.device)
    tol = ftol * max(blk.sst, 1e-300)
    for it in range(1, max_iter + 1):
        trial, predicted = _lm_step(theta, state, lam, blk)
        stalled = predicted <= tol  # converged: the model promises no worthwhile decrease
        if bool(stalled.any()):
            _store(active[stalled], theta[stalled], state, stalled, out_theta, out_sse, out_a, out_lin)
            out_eval[active[stalled]] = it - 1
            keep = ~stalled
            if not bool(keep.any()):
                break
            active, theta, lam, nu, trial, predicted = (v[keep] for v in (active, theta, lam, nu, trial, predicted))
            state = {key: v[keep] for key, v in state.items()}
            blk = blk.take(keep.nonzero()[:, 0])
        new = _evaluate(blk, trial)
        decrease = state["sse"] - new["sse"]
        better = decrease > 0
        theta = torch.where(better[:, None], trial, theta)
        for key, value in state.items():
            mask = better.view(-1, *([1] * (value.dim() - 1)))
            state[key] = torch.where(mask, new[key], value)
        # Nielsen's damping update from the gain ratio (actual / predicted decrease)
        rho = decrease / predicted
        shrink = torch.clamp(1.0 - (2.0 * rho - 1.0) ** 3, min=1.0 / 3.0)
        lam = torch.where(better, (lam * shrink).clamp_min(_LAMBDA_MIN), lam * nu)
        nu = torch.where(better, torch.full_like(nu, 2.0), nu * 2.0)
        done = (better & (decrease <= tol)) | (lam > _LAMBDA_MAX)
        if it == max_iter:
            done = torch.ones_like(done)
        if bool(done.any()):
            _store(active[done], theta[done], state, done, out_theta, out_sse, out_a, out_lin)
            out_eval[active[done]] = it
            keep = ~done
            if not bool(keep.any()):
                break
            active, theta, lam, nu = (v[keep] for v in (active, theta, lam, nu))
            state = {key: v[keep] for key, v in state.items()}
            blk = blk.take(keep.nonzero()[:, 0])
    evals = out_eval.view(rows, k).sum(1) + k + (s if s > 1 else 0)
    if k == 1:
        return out_theta, out_sse, out_a, out_lin, evals
    best = out_sse.view(rows, k).argmin(1) + torch.arange(rows, device=x.device) * k  # first of equals wins
    return out_theta[best], out_sse[best], out_a[best], out_lin[best], evals


@dataclass(frozen=True)
class _Fit:
    """Per-row fit results: parameters in the data's units, PLCC, and the standardised optimum."""

    params: np.ndarray
    plcc: np.ndarray
    theta: np.ndarray
    evaluations: np.ndarray


def _check_matrix(X: np.ndarray, name: str, rows: str, cols: str) -> None:
    """ValueError naming the first non-finite entry of a 2-D array."""
    bad = ~np.isfinite(X)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ValueError(f"{name} has {int(bad.sum())} non-finite value(s) (NaN or inf); the first is at "
                         f"{rows} {i}, {cols} {j} ({X[i, j]})")


def _check_scores(y: ArrayLike, n: int, name: str = "mos") -> np.ndarray:
    """Subjective scores as a finite, non-constant float vector of length n (n >= MIN_IMAGES)."""
    y = np.asarray(y, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {y.shape}")
    if y.size != n:
        raise ValueError(f"{name} has {y.size} values but there are {n} images")
    if n < MIN_IMAGES:
        raise ValueError(f"need at least {MIN_IMAGES} images, got {n}")
    bad = np.flatnonzero(~np.isfinite(y))
    if bad.size:
        raise ValueError(f"{name} has {bad.size} non-finite value(s) (NaN or inf); the first is at position {bad[0]}")
    if np.all(y == y[0]):
        raise ValueError(f"{name} is constant (all values equal {y[0]:g}): no correlation is defined")
    return y


RowSource = Callable[[int, int], torch.Tensor]
"""Rows lo..hi of a predictor matrix as a float64 tensor [hi - lo, N] (built on demand, a chunk at a time)."""


def _log_starts(starts: Sequence[Sequence[float]], device: torch.device) -> torch.Tensor:
    """Starts as a tensor [S, 2] of (log slope, centre), the slope clipped to C2_RANGE."""
    st = np.array(starts, dtype=np.float64).reshape(-1, 2)
    if st.shape[0] == 0 or not np.isfinite(st).all():
        raise ValueError(f"starts must be finite (slope, centre) pairs, got {starts!r}")
    st[:, 0] = np.log(np.clip(np.abs(st[:, 0]), *C2_RANGE))
    return torch.as_tensor(st, device=device)


def _fit_source(rows: RowSource, m: int, y: np.ndarray, starts: Sequence[Sequence[float]], device: torch.device,
                max_iter: int = 100, ftol: float = 1e-10, refine: int = REFINE) -> _Fit:
    """Batched logistic fits of M predictors given by ``rows`` to y, one cache-sized chunk at a time."""
    n = y.size
    yt = torch.tensor(y, dtype=torch.float64, device=device)  # a copy: pandas may hand a read-only array
    my, sy = yt.mean(), yt.std(correction=0)
    ys = (yt - my) / sy
    st = _log_starts(starts, device)
    zeros = dict(dtype=torch.float64, device=device)
    mx, sx, sse, a = (torch.zeros(m, **zeros) for _ in range(4))
    theta, lin = torch.zeros((m, 2), **zeros), torch.zeros((m, 2), **zeros)
    const = torch.zeros(m, dtype=torch.bool, device=device)
    evals = torch.zeros(m, dtype=torch.long, device=device)
    chunk = max(1, _CHUNK_ELEMENTS.get(device.type, 1 << 20) // n)
    for lo in range(0, m, chunk):
        hi = min(m, lo + chunk)
        X = rows(lo, hi)
        mx[lo:hi], sx[lo:hi] = X.mean(1), X.std(1, correction=0)
        const[lo:hi] = sx[lo:hi] <= CONSTANT_RTOL * X.abs().amax(1)
        keep = (~const[lo:hi]).nonzero()[:, 0]
        if keep.numel():
            xs = (X[keep] - mx[lo:hi, None][keep]) / sx[lo:hi, None][keep]
            res = _fit_block(xs, ys, st, max_iter, ftol, refine)
            idx = keep + lo
            theta[idx], sse[idx], a[idx], lin[idx], evals[idx] = res
    plcc = torch.sqrt((1.0 - sse / n).clamp(0.0, 1.0))
    plcc = torch.where(const, torch.full_like(plcc, -np.inf), plcc)
    # back to the data's units: f = a (p - u/4) + lin_x x_s + lin_1 in standardised units, u = c2 (x_s - c3)
    theta[:, 0] = theta[:, 0].exp()
    c2, c3 = theta[:, 0], theta[:, 1]
    c1, c4, c5 = a, lin[:, 0] - a * c2 / 4, lin[:, 1] + a * c2 * c3 / 4
    sxs = torch.where(const, torch.ones_like(sx), sx)
    params = torch.stack([sy * c1, c2 / sxs, mx + sxs * c3, sy * c4 / sxs, sy * (c5 - c4 * mx / sxs) + my], 1)
    constant_fit = torch.stack([torch.zeros_like(mx), torch.zeros_like(mx), mx, torch.zeros_like(mx),
                                my.expand_as(mx)], 1)
    params = torch.where(const[:, None], constant_fit, params)
    theta[const] = 0.0
    return _Fit(params.cpu().numpy(), plcc.cpu().numpy(), theta.cpu().numpy(), evals.cpu().numpy())


def _fit(X: torch.Tensor, y: np.ndarray, starts: Sequence[Sequence[float]], max_iter: int = 100,
         ftol: float = 1e-10, refine: int = REFINE) -> _Fit:
    """Batched logistic fits of the rows of X [M, N] (float64 tensor) to y; constant rows get PLCC -inf."""
    return _fit_source(lambda lo, hi: X[lo:hi], X.shape[0], y, starts, X.device, max_iter, ftol, refine)


def fit_logistic5_batch(X: ArrayLike, y: ArrayLike, *, starts: Sequence[Sequence[float]] = DEFAULT_STARTS,
                        refine: int = REFINE, device: str | torch.device = "cpu", threads: int | None = 1,
                        max_iter: int = 100, ftol: float = 1e-10) -> tuple[np.ndarray, np.ndarray]:
    """5-parameter logistic fits of M predictors at once: X [M, N] (one predictor per row), y [N].

    Returns ``params`` [M, 5] (b1..b5 of :func:`iqaxai.stats.logistic5`, b2 >= 0) and the non-linear PLCC [M]
    (between each fitted curve's values and y), ``-inf`` for a constant row. ``starts``: (slope, centre) pairs
    in standardised units. The fit stops when an accepted step lowers the squared error by at most ``ftol``
    times the total sum of squares, or after ``max_iter`` steps. See the module docstring for the method.
    """
    arr = np.asarray(X, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"X must be 2-D [M predictors, N images], got shape {arr.shape}")
    _check_matrix(arr, "X", "row", "column")
    yv = _check_scores(y, arr.shape[1], "y")
    with _threads(threads):
        fit = _fit(torch.as_tensor(arr, device=_device(device)), yv, starts, max_iter, ftol, refine)
    return fit.params, fit.plcc


# -------------------------------------------------------------------------------------- forward selection


@dataclass(frozen=True)
class Combine:
    """A rule for a set's per-image score: from the running sum of its columns, and from scratch."""

    running: Callable[[torch.Tensor, int], torch.Tensor]
    """Scores from the sum of the set's columns and the set size (the vectorised selection)."""
    scratch: Callable[[np.ndarray], np.ndarray]
    """Scores from the set's columns [N, k] (the reference loop)."""


COMBINE: dict[str, Combine] = {
    "mean": Combine(lambda total, size: total / size, lambda cols: cols.mean(1)),
    "sum": Combine(lambda total, size: total, lambda cols: cols.sum(1)),
}
"""The ``combine`` rules. ``mean`` (the paper's reading of "combined") and ``sum`` give the same PLCC for the
same set, since the logistic absorbs the scale; another rule is one more entry."""
STEP_STARTS = ("warm", "all")


@dataclass(frozen=True)
class Selection:
    """Result of a forward selection of feature maps."""

    maps: list[int]
    """Column indices of Q in the order they were picked."""
    path: list[float]
    """Non-linear PLCC of the set after each addition."""
    plcc_selected: float
    """Non-linear PLCC of the final set (the last entry of ``path``)."""
    plcc_all: float
    """Non-linear PLCC of the combination of all maps."""
    n_candidates: int
    """Non-constant columns that could be picked (constant columns are excluded)."""
    steps: int
    """Rounds of candidate evaluation run (the last one adds nothing when the selection stops on ``min_gain``)."""
    stop: str
    """Why the selection ended: ``min_gain``, ``max_maps`` or ``exhausted`` (no candidate left)."""
    combine: str = "mean"

    @property
    def gap(self) -> float:
        """Selected minus all maps (non-linear PLCC)."""
        return self.plcc_selected - self.plcc_all


def _check_inputs(Q: ArrayLike, mos: ArrayLike, combine: str, max_maps: int | None, min_gain: float,
                  starts: str) -> tuple[np.ndarray, np.ndarray]:
    """Validated Q [N, M] float64 and mos [N]; ValueError naming what is wrong."""
    q = np.asarray(Q, dtype=np.float64)
    if q.ndim != 2:
        raise ValueError(f"Q must be 2-D [n_images, n_maps], got shape {q.shape}")
    if q.shape[1] < 1:
        raise ValueError("Q has no columns (feature maps)")
    _check_matrix(q, "Q", "row (image)", "column (map)")
    y = _check_scores(mos, q.shape[0])
    if combine not in COMBINE:
        raise ValueError(f"combine must be one of {sorted(COMBINE)}, got {combine!r}")
    if max_maps is not None and max_maps < 1:
        raise ValueError(f"max_maps must be at least 1, got {max_maps}")
    if not np.isfinite(min_gain) or min_gain < 0:
        raise ValueError(f"min_gain must be a finite number >= 0, got {min_gain}")
    if starts not in STEP_STARTS:
        raise ValueError(f"starts must be one of {STEP_STARTS}, got {starts!r}")
    return q, y


def _candidates(q: np.ndarray) -> np.ndarray:
    """Indices of the non-constant columns of Q; ValueError when there is none."""
    keep = np.flatnonzero(q.max(0) > q.min(0))
    if keep.size == 0:
        raise ValueError("every column of Q is constant: no map can be selected")
    return keep


def _step_starts(previous: np.ndarray | None, starts: str) -> tuple[tuple[float, float], ...]:
    """Starts of a step: the defaults first; later the previous optimum (``warm``), plus the defaults (``all``)."""
    if previous is None:
        return DEFAULT_STARTS
    warm = ((float(previous[0]), float(previous[1])),)
    return warm + DEFAULT_STARTS if starts == "all" else warm


def _stop_reason(best: float, current: float, min_gain: float) -> str | None:
    """``min_gain`` when the best candidate does not improve the criterion by more than min_gain, else None."""
    if not np.isfinite(best) or best - current <= min_gain:
        return "min_gain"
    return None


def _full_reason(n_selected: int, n_left: int, max_maps: int | None) -> str | None:
    """Why to stop after an addition (``max_maps``, ``exhausted``), or None to go on."""
    if max_maps is not None and n_selected >= max_maps:
        return "max_maps"
    if n_left == 0:
        return "exhausted"
    return None


def _plcc_of(score: np.ndarray, y: np.ndarray, device: torch.device) -> float:
    """Non-linear PLCC of one score vector (default starts)."""
    return float(_fit(torch.as_tensor(score[None, :], dtype=torch.float64, device=device), y, DEFAULT_STARTS).plcc[0])


def _run(q: np.ndarray, y: np.ndarray, step: Callable[[np.ndarray, list[int], tuple], _Fit], combine: str,
         max_maps: int | None, min_gain: float, starts: str, device: torch.device, progress: bool) -> Selection:
    """The selection loop shared by both implementations; ``step`` fits all remaining candidates of a step."""
    from iqaxai.runtime import progress as progress_bar

    remaining = _candidates(q)
    n_candidates = remaining.size
    maps: list[int] = []
    path: list[float] = []
    previous: np.ndarray | None = None
    current, steps, stop = -np.inf, 0, "exhausted"
    with progress_bar(total=max_maps, desc="forward selection", show=progress, unit="map") as bar:
        while True:
            steps += 1
            fit = step(remaining, maps, _step_starts(previous, starts))
            j = int(np.argmax(fit.plcc))
            reason = _stop_reason(float(fit.plcc[j]), current, min_gain)
            if reason is None:
                maps.append(int(remaining[j]))
                current = float(fit.plcc[j])
                path.append(current)
                previous = fit.theta[j]
                remaining = np.delete(remaining, j)
                bar.update(1)
                bar.set_postfix(plcc=f"{current:.4f}", refresh=False)
                reason = _full_reason(len(maps), remaining.size, max_maps)
            if reason is not None:
                stop = reason
                break
    plcc_all = _plcc_of(COMBINE[combine].scratch(q), y, device)
    return Selection(maps, path, path[-1] if path else float("nan"), plcc_all, n_candidates, steps, stop, combine)


def forward_selection(Q: ArrayLike, mos: ArrayLike, *, combine: str = "mean", max_maps: int | None = None,
                      min_gain: float = 1e-6, starts: str = "warm", device: str | torch.device = "cpu",
                      threads: int | None = 1, progress: bool = False) -> Selection:
    """Greedy forward selection of the columns of Q [n_images, n_maps] maximising the non-linear PLCC with mos.

    Each step scores all remaining candidates at once from a running sum of the selected columns and fits
    their logistics in cache-sized batches. ``starts``: after the first step, each fit starts from the previous
    step's optimum only (``warm``) or from it and :data:`DEFAULT_STARTS` (``all``, about a third slower).
    ``threads``: torch intra-op threads for the call (restored afterwards); on a busy machine 1 is much faster
    than several. Constant columns are never candidates.
    """
    q, y = _check_inputs(Q, mos, combine, max_maps, min_gain, starts)
    dev = _device(device)
    qt = torch.as_tensor(np.ascontiguousarray(q.T), device=dev)  # [M, N]: one candidate per row
    total = torch.zeros(q.shape[0], dtype=torch.float64, device=dev)  # running sum of the selected columns
    to_scores = COMBINE[combine].running
    summed: list[int] = []

    def step(remaining: np.ndarray, maps: list[int], step_starts: tuple) -> _Fit:
        """All candidates of a step, their set scores built a chunk at a time from the running sum."""
        for c in maps[len(summed):]:  # the map picked last joins the running sum
            total.add_(qt[c])
            summed.append(c)
        idx = torch.as_tensor(remaining, device=dev)
        size = len(maps) + 1
        return _fit_source(lambda lo, hi: to_scores(qt[idx[lo:hi]] + total, size), idx.numel(), y, step_starts, dev)

    with _threads(threads):
        return _run(q, y, step, combine, max_maps, min_gain, starts, dev, progress)


def forward_selection_loop(Q: ArrayLike, mos: ArrayLike, *, combine: str = "mean", max_maps: int | None = None,
                           min_gain: float = 1e-6, starts: str = "warm", device: str | torch.device = "cpu",
                           threads: int | None = 1, progress: bool = False) -> Selection:
    """Reference implementation of :func:`forward_selection`: one candidate at a time, set scores from scratch.

    Each candidate's score is ``Q[:, S + [j]].mean(1)`` (or ``.sum(1)``), fitted alone by the same fitter with
    the same starts, so both implementations pick the same maps. Slow; for tests and benchmarks.
    """
    q, y = _check_inputs(Q, mos, combine, max_maps, min_gain, starts)
    dev = _device(device)
    reduce = COMBINE[combine].scratch

    def step(remaining: np.ndarray, maps: list[int], step_starts: tuple) -> _Fit:
        """Each candidate fitted on its own; the results stacked like a batched step's."""
        fits = []
        for j in remaining:
            score = reduce(q[:, maps + [int(j)]])
            fits.append(_fit(torch.as_tensor(score[None, :], device=dev), y, step_starts))
        return _Fit(*(np.concatenate([getattr(f, k) for f in fits]) for k in ("params", "plcc", "theta",
                                                                              "evaluations")))

    with _threads(threads):
        return _run(q, y, step, combine, max_maps, min_gain, starts, dev, progress)


def set_plcc(Q: ArrayLike, mos: ArrayLike, maps: Sequence[int] | None = None, combine: str = "mean") -> float:
    """Non-linear PLCC between mos and the combined score of the columns ``maps`` of Q (all columns when None)."""
    q = np.asarray(Q, dtype=np.float64)
    if q.ndim != 2:
        raise ValueError(f"Q must be 2-D [n_images, n_maps], got shape {q.shape}")
    cols = q if maps is None else q[:, list(maps)]
    if cols.shape[1] == 0:
        raise ValueError("no maps given")
    _check_matrix(cols, "Q", "row (image)", "column (map)")
    y = _check_scores(mos, q.shape[0])
    if combine not in COMBINE:
        raise ValueError(f"combine must be one of {sorted(COMBINE)}, got {combine!r}")
    return _plcc_of(COMBINE[combine].scratch(cols), y, torch.device("cpu"))


# ------------------------------------------------------------------------------------ held-out evaluation


PROTOCOL_COLUMNS = ["protocol", "fold", "n_fit", "n_eval", "n_selected", "plcc_selected_fit", "plcc_all_fit",
                    "plcc_selected", "plcc_all", "gap", "gap_fit", "maps"]
"""Columns shared by :func:`in_sample_selection`, :func:`kfold_selection` and :func:`cross_dataset_selection`:
``*_fit`` on the images the maps were selected on (in-sample), the others on the evaluation images; ``gap`` =
``plcc_selected - plcc_all`` there."""


def group_folds(groups: ArrayLike, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold index [N] per image: whole groups (contents) shuffled by ``seed``, each given to the emptiest fold."""
    g = np.asarray(groups)
    if g.ndim != 1:
        raise ValueError(f"groups must be 1-D, got shape {g.shape}")
    labels, inverse, counts = np.unique(g, return_inverse=True, return_counts=True)
    if k < 2 or k > labels.size:
        raise ValueError(f"k must be between 2 and the number of groups ({labels.size}), got {k}")
    order = np.random.default_rng(seed).permutation(labels.size)
    order = order[np.argsort(-counts[order], kind="stable")]  # large groups first, ties in random order
    fold_of_group = np.empty(labels.size, dtype=int)
    sizes = np.zeros(k, dtype=int)
    for label in order:
        f = int(np.argmin(sizes))
        fold_of_group[label] = f
        sizes[f] += counts[label]
    return fold_of_group[inverse]


def _row(protocol: str, fold: int, q_fit: np.ndarray, y_fit: np.ndarray, q_eval: np.ndarray, y_eval: np.ndarray,
         kw: dict) -> dict:
    """Select on (q_fit, y_fit) and score the selected set and all maps on both parts."""
    sel = forward_selection(q_fit, y_fit, **kw)
    combine = kw.get("combine", "mean")
    same = q_eval is q_fit
    selected = sel.plcc_selected if same else set_plcc(q_eval, y_eval, sel.maps, combine)
    every = sel.plcc_all if same else set_plcc(q_eval, y_eval, None, combine)
    return {"protocol": protocol, "fold": fold, "n_fit": q_fit.shape[0], "n_eval": q_eval.shape[0],
            "n_selected": len(sel.maps), "plcc_selected_fit": sel.plcc_selected, "plcc_all_fit": sel.plcc_all,
            "plcc_selected": selected, "plcc_all": every, "gap": selected - every,
            "gap_fit": sel.plcc_selected - sel.plcc_all, "maps": tuple(sel.maps)}


def in_sample_selection(Q: ArrayLike, mos: ArrayLike, **kw) -> pd.DataFrame:
    """The paper's protocol as one row of :data:`PROTOCOL_COLUMNS`: select and evaluate on the same images."""
    q, y = np.asarray(Q, dtype=np.float64), np.asarray(mos, dtype=np.float64)
    return pd.DataFrame([_row("in-sample", 0, q, y, q, y, kw)], columns=PROTOCOL_COLUMNS)


def kfold_selection(Q: ArrayLike, mos: ArrayLike, groups: ArrayLike, *, k: int = 5, seed: int = 0,
                    **kw) -> pd.DataFrame:
    """Select on k-1 folds of whole contents, evaluate on the held-out fold: one row per fold.

    Folds come from :func:`group_folds` (no content on both sides). The held-out PLCCs fit their own logistic
    on the held-out images, for the selected set and for all maps alike. Besides :data:`PROTOCOL_COLUMNS`,
    ``eval_images`` holds each fold's held-out image indices (no ``DataFrame.attrs``: an array there breaks
    ``pd.concat``).
    Keyword arguments go to :func:`forward_selection`.
    """
    q = np.asarray(Q, dtype=np.float64)
    if q.ndim != 2:
        raise ValueError(f"Q must be 2-D [n_images, n_maps], got shape {q.shape}")
    y = np.asarray(mos, dtype=np.float64)
    g = np.asarray(groups)
    if g.shape != (q.shape[0],) or y.shape != (q.shape[0],):
        raise ValueError(f"mos {y.shape} and groups {g.shape} must both be 1-D with one entry per image "
                         f"({q.shape[0]})")
    folds = group_folds(g, k, seed)
    rows = []
    for f in range(k):
        test = np.flatnonzero(folds == f)
        train = np.flatnonzero(folds != f)
        row = _row("k-fold", f, q[train], y[train], q[test], y[test], kw)
        row["eval_images"] = tuple(int(i) for i in test)
        rows.append(row)
    df = pd.DataFrame(rows, columns=[*PROTOCOL_COLUMNS, "eval_images"])
    return df


def cross_dataset_selection(Q_a: ArrayLike, mos_a: ArrayLike, Q_b: ArrayLike, mos_b: ArrayLike,
                            **kw) -> pd.DataFrame:
    """Select on dataset A, evaluate on dataset B (same backbone, so the same columns): one row.

    B's PLCCs fit their own logistic on B, for the selected set and for all maps alike. Keyword arguments go
    to :func:`forward_selection`.
    """
    qa, qb = np.asarray(Q_a, dtype=np.float64), np.asarray(Q_b, dtype=np.float64)
    if qa.ndim != 2 or qb.ndim != 2 or qa.shape[1] != qb.shape[1]:
        raise ValueError(f"Q_a {qa.shape} and Q_b {qb.shape} must be 2-D with the same maps (columns)")
    row = _row("cross-dataset", 0, qa, np.asarray(mos_a, dtype=np.float64), qb, np.asarray(mos_b, dtype=np.float64),
               kw)
    return pd.DataFrame([row], columns=PROTOCOL_COLUMNS)


# ------------------------------------------------------------------------------------------ synthetic data


def planted_q(n_images: int, n_maps: int, n_planted: int, *, noise: float = 0.1, shared: float = 0.0,
              n_contents: int | None = None, mos_noise: float = 0.05,
              seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic SSIM-like scores with a planted subset of maps: (Q [N, M], mos [N], groups [N], planted [P]).

    Each image has a distortion level d, a nuisance level c (both uniform in [0, 1]) and one of ``n_contents``
    contents (``groups``; default N / 20). A planted map reads ``1 - 0.6 d``; any other map reads
    ``1 - 0.6 (shared d + (1 - shared) (c + e) / 2)``, e a uniform nuisance of its own (no information on
    quality when ``shared`` = 0); every map gets independent noise (sd ``noise``), values clipped to [-1, 1].
    mos = 5 (1 - d)^1.5 plus noise (sd 5 ``mos_noise``), monotone but not linear in d: the mean of the planted
    maps is the best score, each planted map added to it helps, and the mean of all maps pays for the nuisance.
    """
    rng = np.random.default_rng(seed)
    contents = n_contents or max(1, n_images // 20)
    groups = rng.permutation(np.arange(n_images) % contents)
    d, c = rng.uniform(0.0, 1.0, (2, n_images))
    planted = np.sort(rng.choice(n_maps, n_planted, replace=False))
    latent = (c[:, None] + rng.uniform(0.0, 1.0, (n_images, n_maps))) / 2
    latent = shared * d[:, None] + (1.0 - shared) * latent
    latent[:, planted] = d[:, None]
    Q = 1.0 - 0.6 * latent + noise * rng.standard_normal((n_images, n_maps))
    mos = 5.0 * (1.0 - d) ** 1.5 + 5.0 * mos_noise * rng.standard_normal(n_images)
    return np.clip(Q, -1.0, 1.0), mos, groups, planted
