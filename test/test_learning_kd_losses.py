"""KD loss registry: each loss on hand-made tensors, with properties that could fail."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tactile_material_ros.learning.kd_losses import (
    KD_LOSSES,
    TeacherTargets,
    UnknownKDMethodError,
    build_kd_loss,
    kl_soft,
)
from tactile_material_ros.learning.students import StudentOutput


def _student(logits: torch.Tensor, features: torch.Tensor | None = None) -> StudentOutput:
    return StudentOutput(logits, torch.zeros(len(logits), 4), features)


def test_registry_holds_the_five_methods_and_an_unknown_name_lists_them() -> None:
    assert set(KD_LOSSES) == {"feature", "logits", "dkd", "cosine", "none"}
    with pytest.raises(UnknownKDMethodError) as info:
        build_kd_loss("attention")
    message = str(info.value)
    assert "attention" in message
    for name in KD_LOSSES:
        assert name in message


def test_defaults_are_the_authors_and_overrides_apply() -> None:
    feature = build_kd_loss("feature")
    assert (feature.alpha, feature.temperature) == (0.25, 3.5)
    cosine = build_kd_loss("cosine")
    assert (cosine.cosine_weight, cosine.ce_weight) == (0.25, 0.75)
    assert build_kd_loss("logits", alpha=0.5).alpha == 0.5
    with pytest.raises(TypeError):
        build_kd_loss("feature", beta=3.0)


def test_kl_is_zero_for_equal_inputs_and_positive_otherwise() -> None:
    a = torch.randn(5, 7, generator=torch.Generator().manual_seed(0))
    assert kl_soft(a, a.clone(), 3.5).abs() < 1e-6
    assert kl_soft(a, a.flip(-1), 3.5) > 1e-3


def test_feature_kd_vanishes_when_student_matches_teacher_and_feeds_the_projection() -> None:
    g = torch.Generator().manual_seed(1)
    teacher = torch.randn(6, 12, generator=g)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    logits = torch.randn(6, 3, generator=g)
    loss = build_kd_loss("feature")
    out = loss(_student(logits, teacher.clone()), TeacherTargets(teacher, None), labels)
    assert out.parts["kd"].abs() < 1e-6
    assert torch.isclose(out.loss, 0.25 * F.cross_entropy(logits, labels), atol=1e-6)
    # a student whose CLS differs: the gradient reaches the learned projection (8 -> 12 wide)
    projection = torch.nn.Linear(8, 12)
    cls = torch.randn(6, 8, generator=g)
    out = loss(_student(logits, projection(cls)), TeacherTargets(teacher, None), labels)
    assert out.parts["kd"] > 1e-4
    out.loss.backward()
    assert projection.weight.grad is not None and projection.weight.grad.abs().sum() > 0


def test_logits_kd_is_scaled_by_t_squared() -> None:
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(4, 5, generator=g), torch.randn(4, 5, generator=g)
    labels = torch.tensor([0, 1, 2, 3])
    out = build_kd_loss("logits", temperature=2.0)(_student(s), TeacherTargets(None, t), labels)
    assert torch.isclose(out.parts["kd"], 4.0 * kl_soft(t, s, 2.0), rtol=1e-5)
    same = build_kd_loss("logits")(_student(t.clone()), TeacherTargets(None, t), labels)
    assert same.parts["kd"].abs() < 1e-6


def test_dkd_has_no_ce_and_vanishes_only_when_logits_agree() -> None:
    g = torch.Generator().manual_seed(3)
    t = torch.randn(8, 6, generator=g)
    labels = torch.randint(0, 6, (8,), generator=g)
    dkd = build_kd_loss("dkd")
    same = dkd(_student(t.clone()), TeacherTargets(None, t), labels)
    assert same.loss.abs() < 1e-5 and "ce" not in same.parts
    # moving only the target class's logit changes TCKD, not NCKD (the decoupling)
    shifted = t.clone()
    shifted[torch.arange(8), labels] += 2.0
    out = dkd(_student(shifted), TeacherTargets(None, t), labels)
    assert out.parts["tckd"] > 1e-3 and out.parts["nckd"].abs() < 1e-5


def test_cosine_loss_ignores_scale_and_weights_ce() -> None:
    g = torch.Generator().manual_seed(4)
    teacher = torch.randn(5, 10, generator=g)
    logits = torch.randn(5, 3, generator=g)
    labels = torch.tensor([0, 1, 2, 0, 1])
    out = build_kd_loss("cosine")(_student(logits, 3.0 * teacher), TeacherTargets(teacher, None), labels)
    assert out.parts["cos"].abs() < 1e-6
    assert torch.isclose(out.loss, 0.75 * F.cross_entropy(logits, labels), atol=1e-6)
    opposite = build_kd_loss("cosine")(_student(logits, -teacher), TeacherTargets(teacher, None), labels)
    assert torch.isclose(opposite.parts["cos"], torch.tensor(2.0), atol=1e-5)


def test_none_is_plain_cross_entropy_and_needs_no_teacher() -> None:
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0]])
    labels = torch.tensor([0, 1])
    loss = build_kd_loss("none")
    assert not (loss.needs_features or loss.needs_logits)
    assert torch.isclose(loss(_student(logits), TeacherTargets(None, None), labels).loss, F.cross_entropy(logits, labels))


def test_a_missing_teacher_signal_is_named() -> None:
    with pytest.raises(ValueError, match="teacher features"):
        build_kd_loss("feature")(_student(torch.zeros(2, 2), torch.zeros(2, 3)), TeacherTargets(None, None),
                                 torch.tensor([0, 1]))
