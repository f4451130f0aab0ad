"""TRIQ and its positional masking, checked against the definition in the ICIP 2023 paper."""

from __future__ import annotations

import pytest
import torch

from iqaxai.models import create_model
from iqaxai.models.base import distribution_to_score
from iqaxai.models.triq import TRIQ

torch.manual_seed(0)


def _model(**kw) -> TRIQ:
    model = TRIQ(backbone="tiny", **kw)
    model.eval()
    return model


def _removed(model: TRIQ, tokens: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Reference: the quality token attends only to the kept tokens (masked ones removed from the sequence)."""
    return model.encode(tokens[:, torch.cat([torch.tensor([True]), keep])])


@pytest.mark.parametrize("map_hw,pool", [((6, 8), None), ((7, 9), False), ((12, 16), False), ((3, 4), None)])
def test_masking_a_block_equals_removing_its_tokens(map_hw, pool):
    h, w = map_hw
    model = _model(pool=pool, max_positions=1 + h * w)
    x = torch.rand(1, 3, 32 * h, 32 * w)
    fmap = model.feature_map(x)
    assert tuple(fmap.shape[-2:]) == (h, w)
    tokens = model.embed(fmap)
    gen = torch.Generator().manual_seed(h * w)
    for _ in range(5):
        blocks = torch.rand(12, generator=gen) < 0.5
        blocks[int(torch.randint(12, (1,), generator=gen))] = False  # keep at least one block
        key_mask = model.token_mask(blocks, (h, w), 1)
        masked = model.encode(tokens, key_mask)
        removed = _removed(model, tokens, ~key_mask[0, 1:])
        assert torch.allclose(masked, removed, atol=1e-6, rtol=0)
        with torch.no_grad():  # the public forward, backbone recomputed: same distribution within 1e-5
            assert torch.allclose(model.distribution(x, blocks), removed, atol=1e-5, rtol=0)


def test_a_masked_tokens_content_has_no_effect():
    model = _model()
    tokens = model.embed(model.feature_map(torch.rand(2, 3, 192, 256)))
    token_mask = torch.zeros(2, 48, dtype=torch.bool)
    token_mask[0, [0, 5, 17, 40]] = True
    token_mask[1, 10:30] = True  # masks may differ between the images of a batch
    key_mask = model.token_mask(token_mask, (6, 8), 2)
    before = model.encode(tokens, key_mask)
    perturbed = tokens.clone()
    perturbed[key_mask] = torch.randn(int(key_mask.sum()), tokens.shape[-1]) * 100
    assert torch.allclose(model.encode(perturbed, key_mask), before, atol=1e-6, rtol=0)
    # and an unmasked token's content does matter
    perturbed[0, 2] += 5.0
    assert not torch.allclose(model.encode(perturbed, key_mask)[0], before[0], atol=1e-4)


def test_block_mask_and_token_mask_agree_and_batch_masks_differ():
    model = _model()
    x = torch.rand(2, 3, 192, 256)
    blocks = torch.zeros(2, 12, dtype=torch.bool)
    blocks[0, 0] = True
    blocks[1, [5, 11]] = True
    tokens = torch.zeros(2, 6, 8, dtype=torch.bool)
    tokens[0, 0:2, 0:2] = True  # block 0 of a 3x4 grid over a 6x8 map is 2x2 tokens
    tokens[1, 2:4, 2:4] = True
    tokens[1, 4:6, 6:8] = True
    with torch.no_grad():
        by_block, by_token = model(x, blocks), model(x, tokens.flatten(1))
        per_image = torch.stack([model(x[i:i + 1], blocks[i]) for i in range(2)]).flatten()
        unmasked = model(x)
    assert torch.allclose(by_block, by_token, atol=1e-6)
    assert torch.allclose(by_block, per_image, atol=1e-5)
    assert not torch.allclose(by_block, unmasked, atol=1e-4)


def test_quality_token_is_never_masked_and_all_masked_leaves_it_alone():
    model = _model()
    x = torch.rand(1, 3, 192, 256)
    tokens = model.embed(model.feature_map(x))
    key_mask = model.token_mask(torch.ones(12, dtype=torch.bool), (6, 8), 1)
    assert not key_mask[0, 0] and key_mask[0, 1:].all()
    assert torch.allclose(model.encode(tokens, key_mask), model.encode(tokens[:, :1]), atol=1e-6)


def test_pooling_rule_token_count_and_errors():
    model = _model()  # authors' rule: pool when the C5 map is at least 16 high
    assert model.feature_map(torch.rand(1, 3, 512, 512)).shape[-2:] == (8, 8)
    assert model.feature_map(torch.rand(1, 3, 384, 512)).shape[-2:] == (12, 16)
    with pytest.raises(ValueError, match="max_positions >= 769"):
        _model(pool=False, max_positions=193).embed(torch.zeros(1, 32, 24, 32))
    assert _model(pool=False).max_positions == 769 and _model().max_positions == 193  # the default follows pool
    assert _model(pool=False).embed(torch.zeros(1, 32, 24, 32)).shape == (1, 769, 32)
    with pytest.raises(ValueError, match="smaller than the grid"):
        model(torch.rand(1, 3, 64, 256), torch.zeros(12, dtype=torch.bool))
    with pytest.raises(ValueError, match="expected 48 .* or 12"):
        model(torch.rand(1, 3, 192, 256), torch.zeros(7, dtype=torch.bool))


def test_distribution_output_and_registry_presets():
    model = create_model("triq", profile="smoke").eval()
    with torch.no_grad():
        p = model.distribution(torch.rand(3, 3, 96, 128))
    assert p.shape == (3, 5) and torch.allclose(p.sum(-1), torch.ones(3))
    assert model.info.output == "distribution" and model.info.normalisation == "minus_one_one"
    assert distribution_to_score(torch.tensor([[0.0, 0, 1, 0, 0], [0, 0, 0, 0, 1.0]])).tolist() == [50.0, 100.0]
    paper = create_model("triq", profile="paper", pretrained=False)
    assert paper.proj.in_channels == 2048 and paper.pos_emb.shape == (1, 769, 32)  # the unpooled 24x32 map (ICIP 2023)
    assert len(paper.layers) == 2 and paper.layers[0].attn.num_heads == 8


def test_masks_must_be_bool_or_exactly_zero_or_one():
    model = create_model("triq", profile="smoke").eval()  # 6x8 token map at 96x128
    x = torch.rand(1, 3, 96, 128)
    blocks = torch.zeros(12, dtype=torch.bool)
    blocks[[0, 5]] = True
    with torch.no_grad():
        assert torch.equal(model(x, blocks.float()), model(x, blocks))  # 0/1 numbers are masks
        assert torch.equal(model(x, blocks.tolist()), model(x, blocks))
        with pytest.raises(ValueError, match=r"TRIQ mask: masks must be bool or exactly 0/1 .*found the value 0\.5"):
            model(x, torch.full((12,), 0.5))  # a weight, not a mask: it used to count as masked
        with pytest.raises(ValueError, match="TRIQ mask: .*found the value 2"):
            model.token_mask(torch.full((12,), 2), (6, 8), 1)
