"""The dual-task Baselines (saliency paper III-C): the detached Grad-CAM's gradient, the saliency loss, training
with saliency maps, and the Table II protocol's split and aggregation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from iqaxai.dual_task import SALIENCY_COLUMN, seed_split, summarise, table_ii, with_saliency_maps
from iqaxai.models import create_model
from iqaxai.models.dual_task import GradCAMLossBaseline, SalLossBaseline, gradcam_map, saliency_loss
from iqaxai.training import TrainConfig, loss_fn, train_model


def _head(features: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """A small non-linear score of a feature map, so that the channel weights depend on the features."""
    return torch.tanh(features.mean(dim=(2, 3)) * w).sum(dim=1)


def test_gradcam_loss_gradient_matches_finite_differences_with_the_weights_held():
    torch.manual_seed(0)
    features = torch.randn(2, 5, 3, 4, dtype=torch.float64, requires_grad=True)
    w = torch.randn(5, dtype=torch.float64)
    target = torch.rand(2, 1, 6, 8, dtype=torch.float64)
    cam = gradcam_map(features, _head(features, w))
    loss = saliency_loss(cam, target)
    (grad,) = torch.autograd.grad(loss, features)

    # the paper's equation: alpha detached, so the reference holds alpha at its value for the unperturbed features
    base = features.detach()
    alpha = torch.autograd.functional.jacobian(lambda f: _head(f, w).sum(), base).mean(dim=(2, 3), keepdim=True)

    def held(f: torch.Tensor) -> torch.Tensor:
        return saliency_loss(torch.relu((alpha * f).sum(dim=1, keepdim=True)), target)

    eps = 1e-6
    numeric = torch.zeros_like(base)
    for idx in np.ndindex(*base.shape):
        step = torch.zeros_like(base)
        step[idx] = eps
        numeric[idx] = (held(base + step) - held(base - step)) / (2 * eps)
    assert torch.allclose(grad, numeric, atol=1e-7, rtol=1e-5)
    assert grad.abs().sum() > 0
    # holding alpha matters: the full derivative (alpha moving with the features) is another vector
    full = torch.autograd.functional.jacobian(
        lambda f: saliency_loss(torch.relu((torch.autograd.grad(_head(f, w).sum(), f, create_graph=True)[0]
                                            .mean(dim=(2, 3), keepdim=True) * f).sum(1, keepdim=True)), target), base)
    assert not torch.allclose(full, grad, atol=1e-6)


def test_saliency_loss_closed_form_and_shape_checks():
    predicted = torch.tensor([[[[1.0, 0.5], [0.0, 0.5]]]])
    target = torch.tensor([[[[4.0, 4.0, 0, 0], [4, 4, 0, 0], [0, 0, 2, 2], [0, 0, 2, 2]]]])
    # target pooled to [[4, 0], [0, 2]] -> max 1: [[1, 0], [0, 0.5]]; predicted already max 1
    expected = ((0.0) ** 2 + 0.5 ** 2 + 0.0 ** 2 + 0.0 ** 2) / 4
    assert saliency_loss(predicted, target).item() == pytest.approx(expected, abs=1e-6)
    with pytest.raises(ValueError, match=r"\[B, 1, h, w\]"):
        saliency_loss(predicted[:, 0], target)


@pytest.mark.parametrize("name", ["baseline_sal_loss", "baseline_gradcam_loss"])
def test_dual_task_models_give_a_score_and_a_map_and_train_end_to_end(name):
    torch.manual_seed(0)
    model = create_model(name, profile="smoke")
    torch.nn.init.normal_(model.head.fc.weight, std=0.1)  # a zero head gives Grad-CAM nothing to weigh
    model.train()
    images = torch.rand(4, 3, 96, 128)
    score, sal = model.dual_outputs(images)
    assert score.shape == (4,) and sal.shape[:2] == (4, 1) and (sal >= 0).all()
    loss = loss_fn(model, images, torch.full((4,), 50.0), torch.zeros(4, 5), torch.rand(4, 1, 96, 128))
    loss.backward()
    backbone_grad = sum(float(p.grad.abs().sum()) for p in model.backbone.parameters() if p.grad is not None)
    assert torch.isfinite(loss) and backbone_grad > 0
    with pytest.raises(ValueError, match="saliency_column"):
        loss_fn(model, images, torch.full((4,), 50.0), torch.zeros(4, 5))
    model.eval()
    assert model.predicted_saliency(images).shape == sal.shape


def test_gradcam_outputs_need_gradients_and_sal_weight_is_checked():
    model = GradCAMLossBaseline(backbone="tiny")
    with torch.no_grad(), pytest.raises(RuntimeError, match="gradients"):
        model.dual_outputs(torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="sal_weight"):
        SalLossBaseline(backbone="tiny", sal_weight=float("nan"))


@pytest.fixture(scope="module")
def blob_world(tmp_path_factory):
    """Images with one bright textured square at a random place; the saliency map is that square."""
    root = tmp_path_factory.mktemp("blobs")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(64):
        img = rng.uniform(0.1, 0.3, (96, 96, 3))
        sal = np.zeros((96, 96))
        y, x = rng.integers(0, 64, 2)
        img[y:y + 32, x:x + 32] = rng.uniform(0.6, 1.0, (32, 32, 3))
        sal[y:y + 32, x:x + 32] = 1.0
        Image.fromarray((img * 255).astype(np.uint8)).save(root / f"{i}.png")
        Image.fromarray((sal * 255).astype(np.uint8)).save(root / f"{i}_sal.png")
        rows.append({"image": f"{i}.png", "path": str(root / f"{i}.png"), "mos": float(img.mean() * 100),
                     SALIENCY_COLUMN: str(root / f"{i}_sal.png"), "split": "train" if i < 48 else "val"})
    return pd.DataFrame(rows)


def _map_cc(model, table) -> float:
    from iqaxai.data.images import load_batch
    from iqaxai.training import load_saliency

    images = load_batch(list(table["path"]), None)
    predicted = model.eval().predicted_saliency(images)
    truth = torch.stack([load_saliency(p, tuple(predicted.shape[-2:])) for p in table[SALIENCY_COLUMN]])
    a = predicted.flatten(1) - predicted.flatten(1).mean(1, keepdim=True)
    b = truth.flatten(1) - truth.flatten(1).mean(1, keepdim=True)
    return float(((a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-12)).mean())


def test_the_saliency_decoder_learns_a_planted_map(blob_world):
    torch.manual_seed(0)
    model = SalLossBaseline(backbone="tiny", hidden=(32,), dropout=0.0, sal_weight=5.0)
    val = blob_world[blob_world["split"] == "val"]
    before = _map_cc(model, val)
    config = TrainConfig(epochs=6, batch_size=8, lr=3e-3, warmup_epochs=0.5, saliency_column=SALIENCY_COLUMN)
    train_model(model, blob_world[blob_world["split"] == "train"], val, config, device="cpu", progress=False)
    after = _map_cc(model, val)
    assert after > 0.6 and after > before + 0.3, (before, after)


def test_seed_split_keeps_groups_together_and_differs_by_seed():
    table = pd.DataFrame({"path": [f"{i}.png" for i in range(200)], "ref": np.repeat(np.arange(40), 5)})
    a, b = seed_split(table, 0, group="ref"), seed_split(table, 1, group="ref")
    assert (a.groupby("ref")["split"].nunique() == 1).all()
    counts = a["split"].value_counts(normalize=True)
    assert counts["test"] == pytest.approx(0.2, abs=0.03) and counts["val"] == pytest.approx(0.1, abs=0.03)
    assert (a["split"] != b["split"]).any()
    with pytest.raises(ValueError, match="fractions"):
        seed_split(table, 0, test=0.9, val=0.2)


def test_with_saliency_maps_names_what_is_missing(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    table = pd.DataFrame({"path": ["/x/a.jpg", "/x/b.jpg"]})
    with pytest.raises(FileNotFoundError, match="1 of 2 saliency maps are missing.*b.png"):
        with_saliency_maps(table, tmp_path)
    with pytest.raises(ValueError, match="proxy maps"):
        with_saliency_maps(table)
    demo = pd.DataFrame({"path": ["a"], "fixation_map": ["/f/a.png"]})
    assert with_saliency_maps(demo)[SALIENCY_COLUMN].tolist() == ["/f/a.png"]


def test_summary_and_table_ii_layout():
    per_seed = pd.DataFrame([(s, m, "IQA", "test", "PLCC", v) for s, (m, v) in
                             enumerate([("Baseline", 0.8), ("Baseline", 0.9), ("Baseline", 1.0)])]
                            + [(0, "Center Prior", "saliency", "demo", "CC", 0.1)],
                            columns=["seed", "method", "task", "dataset", "metric", "value"])
    summary = summarise(per_seed)
    base = summary[summary["method"] == "Baseline"].iloc[0]
    assert base["mean"] == pytest.approx(0.9) and base["std"] == pytest.approx(0.1) and base["seeds"] == 3
    wide = table_ii(summary, ("saliency_baseline",))
    assert list(wide.index) == ["Center Prior", "Baseline"]
    assert wide.loc["Baseline", ("test", "PLCC")] == "0.900 ± 0.100" and wide.loc["Baseline", ("demo", "CC")] == "-"


def test_beside_paper_reads_table_ii_where_it_applies():
    from iqaxai.dual_task import beside_paper

    summary = pd.DataFrame({"method": ["Baseline-Sal-Loss", "Baseline", "Center Prior"], "task": ["saliency", "IQA", "IQA"],
                            "dataset": ["cat2000", "KonIQ-10k test", "demo"], "metric": ["KLD", "SROCC", "CC"],
                            "mean": [0.0] * 3, "std": [0.0] * 3, "seeds": [1] * 3})
    paper = beside_paper(summary)["paper"].tolist()
    assert paper[:2] == [0.433, 0.913] and np.isnan(paper[2])
