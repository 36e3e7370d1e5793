"""Knowledge-distillation losses as a registry: one class per method, one call signature.

Every loss is called as ``loss(student, teacher, labels) -> KDLossOutput`` with the student's
:class:`~tactile_material_ros.learning.students.StudentOutput`, the batch's
:class:`TeacherTargets` and the class labels. The trainer looks a method up by name with
:func:`build_kd_loss` and never branches on it; each class says which teacher signal it needs
(``needs_features`` / ``needs_logits``) so the trainer builds only what is used.
Defaults are the paper authors' (Mohsan et al., configs/distillation.json of their code:
alpha 0.25, T 3.5) unless a docstring says otherwise.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F

from tactile_material_ros.learning.students import StudentOutput


class TeacherTargets(NamedTuple):
    features: torch.Tensor | None  # (B, teacher width) caption embeddings
    logits: torch.Tensor | None    # (B, classes) from the teacher's classification head


class KDLossOutput(NamedTuple):
    loss: torch.Tensor
    parts: dict[str, torch.Tensor]  # named components, for logging


class UnknownKDMethodError(KeyError):
    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


KD_LOSSES: dict[str, type[KDLoss]] = {}


def register(name: str):
    def add(cls: type[KDLoss]) -> type[KDLoss]:
        cls.name = name
        KD_LOSSES[name] = cls
        return cls
    return add


def build_kd_loss(name: str, **params: float) -> KDLoss:
    """The registered loss ``name`` with its defaults, overridden by ``params`` (unknown keys refused)."""
    try:
        cls = KD_LOSSES[name]
    except KeyError:
        raise UnknownKDMethodError(f"unknown KD method {name!r}; known: {', '.join(sorted(KD_LOSSES))}") from None
    return cls(**params)


def kl_soft(teacher: torch.Tensor, student: torch.Tensor, temperature: float) -> torch.Tensor:
    """KL(softmax(teacher/T) || softmax(student/T)) over the last dimension, averaged over the batch."""
    return F.kl_div(F.log_softmax(student / temperature, dim=-1), F.softmax(teacher / temperature, dim=-1),
                    reduction="batchmean")


def _required(value: torch.Tensor | None, what: str, method: str) -> torch.Tensor:
    if value is None:
        raise ValueError(f"KD method {method!r} needs {what}, which the trainer did not provide")
    return value


@dataclass(frozen=True)
class KDLoss:
    """Base of the registry: hyper-parameters are dataclass fields, the loss is ``__call__``."""

    name: ClassVar[str] = ""
    needs_features: ClassVar[bool] = False
    needs_logits: ClassVar[bool] = False

    def __call__(self, student: StudentOutput, teacher: TeacherTargets, labels: torch.Tensor) -> KDLossOutput:
        raise NotImplementedError

    def params(self) -> dict[str, float]:
        return asdict(self)


@register("feature")
@dataclass(frozen=True)
class FeatureKD(KDLoss):
    """Feature-based KD on the CLS states (Mohsan et al., Sec. III; Hinton et al. 2015 soft targets).

    L = alpha * CE(z_s, y) + (1 - alpha) * KL(softmax(h_t / T) || softmax(P h_s / T)),
    the KL over the feature dimension between the teacher's caption embedding h_t and the
    student's CLS state h_s mapped into the teacher's width by the learned projection P.
    No T^2 factor, as in the authors' code. Defaults alpha = 0.25, T = 3.5 (theirs).
    """

    alpha: float = 0.25
    temperature: float = 3.5
    needs_features: ClassVar[bool] = True

    def __call__(self, student: StudentOutput, teacher: TeacherTargets, labels: torch.Tensor) -> KDLossOutput:
        ce = F.cross_entropy(student.logits, labels)
        kd = kl_soft(_required(teacher.features, "teacher features", self.name),
                     _required(student.features, "a student projection", self.name), self.temperature)
        return KDLossOutput(self.alpha * ce + (1 - self.alpha) * kd, {"ce": ce, "kd": kd})


@register("logits")
@dataclass(frozen=True)
class LogitsKD(KDLoss):
    """Logits KD with softened targets (Hinton, Vinyals, Dean, "Distilling the Knowledge in a Neural Network", 2015).

    L = alpha * CE(z_s, y) + (1 - alpha) * T^2 * KL(softmax(z_t / T) || softmax(z_s / T)),
    z_t the teacher's class logits from its sequence-classification head on the caption.
    Defaults alpha = 0.25, T = 3.5 (the authors' distillation config).
    """

    alpha: float = 0.25
    temperature: float = 3.5
    needs_logits: ClassVar[bool] = True

    def __call__(self, student: StudentOutput, teacher: TeacherTargets, labels: torch.Tensor) -> KDLossOutput:
        ce = F.cross_entropy(student.logits, labels)
        kd = kl_soft(_required(teacher.logits, "teacher logits", self.name), student.logits, self.temperature)
        kd = kd * self.temperature**2
        return KDLossOutput(self.alpha * ce + (1 - self.alpha) * kd, {"ce": ce, "kd": kd})


@register("dkd")
@dataclass(frozen=True)
class DecoupledKD(KDLoss):
    """Decoupled KD (Zhao et al., "Decoupled Knowledge Distillation", CVPR 2022), no CE term.

    With p = softmax(z / T): TCKD = T^2 KL([p_t^y, 1 - p_t^y] || [p_s^y, 1 - p_s^y]) (target vs rest),
    NCKD = T^2 KL(p_t^{not y} || p_s^{not y}) over the non-target classes renormalised;
    L = alpha * TCKD + beta * NCKD. As in the authors' code there is no cross-entropy on the
    label, which is why the method collapses in their Table III. Defaults alpha = 1, beta = 8,
    T = 4 are DKD's own (Zhao et al.); the authors' values for this run are not published.
    """

    alpha: float = 1.0
    beta: float = 8.0
    temperature: float = 4.0
    needs_logits: ClassVar[bool] = True

    def __call__(self, student: StudentOutput, teacher: TeacherTargets, labels: torch.Tensor) -> KDLossOutput:
        t_logits = _required(teacher.logits, "teacher logits", self.name)
        s_logits = student.logits
        target = F.one_hot(labels, s_logits.shape[-1]).bool()
        t_p = F.softmax(t_logits / self.temperature, dim=-1)
        s_p = F.softmax(s_logits / self.temperature, dim=-1)

        def binary(p: torch.Tensor) -> torch.Tensor:
            p_target = (p * target).sum(-1, keepdim=True)
            return torch.cat([p_target, 1 - p_target], dim=-1).clamp_min(1e-8)

        t2 = self.temperature**2
        tckd = F.kl_div(binary(s_p).log(), binary(t_p), reduction="batchmean") * t2
        masked = -1e4 * target  # removes the target class from the softmax
        nckd = F.kl_div(F.log_softmax(s_logits / self.temperature + masked, dim=-1),
                        F.softmax(t_logits / self.temperature + masked, dim=-1), reduction="batchmean") * t2
        return KDLossOutput(self.alpha * tckd + self.beta * nckd, {"tckd": tckd, "nckd": nckd})


@register("cosine")
@dataclass(frozen=True)
class CosineKD(KDLoss):
    """Cosine minimisation between CLS states (the authors' "Cosine_minimization"; cf. DistilBERT's
    cosine-embedding loss, Sanh et al. 2019).

    L = w_cos * mean(1 - cos(P h_s, h_t)) + w_ce * CE(z_s, y), defaults w_cos = 0.25, w_ce = 0.75.
    """

    cosine_weight: float = 0.25
    ce_weight: float = 0.75
    needs_features: ClassVar[bool] = True

    def __call__(self, student: StudentOutput, teacher: TeacherTargets, labels: torch.Tensor) -> KDLossOutput:
        ce = F.cross_entropy(student.logits, labels)
        s = _required(student.features, "a student projection", self.name)
        t = _required(teacher.features, "teacher features", self.name)
        cos = (1 - F.cosine_similarity(s, t, dim=-1)).mean()
        return KDLossOutput(self.cosine_weight * cos + self.ce_weight * ce, {"ce": ce, "cos": cos})


@register("none")
@dataclass(frozen=True)
class NoKD(KDLoss):
    """The non-distilled baseline: L = CE(z_s, y) only (the paper's plain ViT row)."""

    def __call__(self, student: StudentOutput, teacher: TeacherTargets, labels: torch.Tensor) -> KDLossOutput:
        ce = F.cross_entropy(student.logits, labels)
        return KDLossOutput(ce, {"ce": ce})
