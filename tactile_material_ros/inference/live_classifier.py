"""The classifier node's logic without ROS: frames, palpation states and presses in; labels out.

:class:`LiveClassifier` owns the verified ONNX model, the sensor's no-contact reference
frame and one *trigger*, which decides which frames are classified and when a result is
due. Triggers are registered by name in :data:`TRIGGERS`:

- ``press``: frames are buffered by capture stamp; on each press (stamp = the moment the
  force settled) the frames captured in ``[stamp, stamp + hold_window_s]`` are classified
  (at most ``max_frames_per_press`` of them: the window is cut into that many equal slices
  and the first frame of each is taken), each classified as it arrives, so that nothing is
  left to do when the window ends. When the arm starts retracting before the window's end,
  the window ends there. It closes as soon as every slice has had its frame, or when a frame
  newer than its end arrives (frames may arrive late: a window stays open for them until then,
  or until ``done``). A cycle runs from the state ``approaching`` to ``done``; its presses are
  fused (:mod:`press_fusion`) into one result as soon as ``presses_per_cycle`` windows have
  closed (the routine's own count: the label does not wait for the arm to retract and turn
  back), or at ``done`` when fewer came or ``presses_per_cycle`` is 0. A ``fault`` drops the
  cycle.
- ``contact``: a hand-held sensor. Each frame is scored against the reference
  (:mod:`contact_detection`); when a contact begins, its next ``frames_per_contact`` frames
  are classified and fused into one result, and nothing more is labelled until the
  contact has ended: one touch, one label.
- ``continuous``: each frame is classified as it arrives, at most ``continuous_rate_hz``
  times a second (a token bucket on capture stamps); frames over the rate are dropped. The
  trigger asks for a frame queue of depth 1 (``frame_queue_depth``), so a frame that waited
  while the model ran is replaced by the newer one: stale frames are never queued.

The reference (for background subtraction, when the model card asks for it, and for the
contact detector) is, in this order of preference: the image file ``reference_file``; the
median of the ``reference_frames`` frames that arrive when a cycle starts (state
``approaching``: the arm is above the object, nothing touches the gel); the median of the
first ``reference_frames`` frames after start-up (so the sensor must be free at start-up).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import ClassVar, Protocol

import cv2
import numpy as np

from tactile_material_ros.inference.contact_detection import ContactConfig, ContactDetector, ContactEvent, contact_score
from tactile_material_ros.inference.frame_freshness import Delivery, FrameFreshness
from tactile_material_ros.inference.model_card import ModelIntegrityError
from tactile_material_ros.inference.onnx_classifier import OnnxClassifier
from tactile_material_ros.inference.raw_image import ByteData, ImageFormatError, frame_from_fields
from tactile_material_ros.inference.recognition import FrameAssessment, Reason, Recognizer

log = logging.getLogger(__name__)

Position = tuple[float, float, float]


@dataclass(frozen=True)
class ClassifierConfig:
    """Everything the classifier needs; field names are the node's parameter names."""

    model_path: str
    trigger: str = "press"
    confidence_threshold: float = 0.5
    hold_window_s: float = 0.5
    max_frames_per_press: int = 8
    presses_per_cycle: int = 2
    continuous_rate_hz: float = 2.0
    reference_frames: int = 5
    reference_file: str = ""
    frames_per_contact: int = 5
    image_width: int = 240
    image_height: int = 320
    top_k: int = 5
    inference_threads: int = 1
    contact: ContactConfig = field(default_factory=ContactConfig)

    def __post_init__(self) -> None:
        if self.trigger not in TRIGGERS:
            raise ValueError(f"trigger = {self.trigger!r} is not a known trigger; use one of {', '.join(TRIGGERS)} "
                             "(press with a robot, contact for a hand-held sensor, continuous for a live view)")
        _check_range("confidence_threshold", self.confidence_threshold, 0.0, 1.0,
                     "probability the fused class needs, below it the label is 'unknown'")
        _check_range("hold_window_s", self.hold_window_s, 0.02, 10.0,
                     "seconds after a press's stamp whose frames are classified; keep it <= the routine's hold time")
        _check_range("max_frames_per_press", self.max_frames_per_press, 1, 120, "frames classified per press")
        _check_range("presses_per_cycle", self.presses_per_cycle, 0, 8,
                     "presses the palpation routine makes per cycle (its `presses`); 0: label at `done`")
        _check_range("continuous_rate_hz", self.continuous_rate_hz, 0.05, 60.0, "classifications per second")
        _check_range("reference_frames", self.reference_frames, 1, 120, "frames whose median is the reference")
        _check_range("frames_per_contact", self.frames_per_contact, 1, 120, "frames fused into one contact's label")
        _check_range("image_width", self.image_width, 8, 8192, "pixels (240 for a portrait QVGA DIGIT)")
        _check_range("image_height", self.image_height, 8, 8192, "pixels (320 for a portrait QVGA DIGIT)")
        _check_range("top_k", self.top_k, 1, 50, "classes drawn as bars on the overlay")
        _check_range("inference_threads", self.inference_threads, 1, 64,
                     "ONNX Runtime threads per frame; 1 leaves the other cores to the camera and the arm")
        if self.reference_file and not Path(self.reference_file).is_file():
            raise ValueError(f"reference_file = {self.reference_file!r} does not exist; give a no-contact frame "
                             "of this sensor (PNG) or leave it empty to capture one from the stream")


def _check_range(name: str, value: float, lo: float, hi: float, meaning: str) -> None:
    if not lo <= value <= hi:
        raise ValueError(f"{name} = {value} is outside the allowed range [{lo}, {hi}] ({meaning}); "
                         f"set it within the range, e.g. --ros-args -p {name}:=<value>")


@dataclass(frozen=True)
class StampedFrame:
    stamp_s: float       # capture time
    image: np.ndarray    # uint8 BGR (H, W, 3)


@dataclass(frozen=True)
class Classification:
    """One published result: a fused label with its probabilities and what it was made from."""

    label: str                     # a material, "unknown" or "no_contact" (recognition.py)
    confidence: float
    probabilities: np.ndarray | None   # (C,), model card order, sums to 1; None for no_contact
    frame: np.ndarray              # a frame it was made from, for the overlay
    frames: int                    # frames fused
    presses: int                   # presses fused (1 for contact and continuous)
    latency_s: float               # time spent running the model for this result
    stamp_s: float = 0.0           # capture stamp of the newest frame it was made from
    position_m: Position | None = None   # where the sensor pressed (press trigger)
    frame_id: str = ""
    reason: str = ""               # why it is not a material: low_confidence, unfamiliar_input, no_contact
    familiarity: float | None = None     # median familiarity ratio of its frames (above 1: unfamiliar)


def result_json(result: Classification, class_names: tuple[str, ...] | list[str]) -> str:
    """The node's ``material_result``: one result as a JSON object (label, reason, confidence, familiarity,
    presses, frames, capture stamp, frame, position, and the probabilities by class, null for no_contact)."""
    probabilities = (None if result.probabilities is None else
                     {n: round(float(p), 6) for n, p in zip(class_names, result.probabilities, strict=True)})
    return json.dumps({
        "label": result.label, "reason": result.reason, "confidence": round(result.confidence, 6),
        "familiarity": None if result.familiarity is None else round(result.familiarity, 4),
        "presses": result.presses, "frames": result.frames, "stamp": result.stamp_s, "frame_id": result.frame_id,
        "position": list(result.position_m) if result.position_m is not None else None,
        "probabilities": probabilities,
    })


def model_summary_json(live: LiveClassifier) -> str:
    """The model in use as JSON: ``{"model_path", "sha256", "class_names"}`` (the reload service's answer)."""
    return json.dumps({"model_path": live.config.model_path, "sha256": live.model.sha256,
                       "class_names": list(live.class_names)})


@dataclass
class Counters:
    frames_received: int = 0
    frames_skipped: int = 0        # malformed messages, refused by frame_from_fields
    frames_classified: int = 0
    frames_dropped: int = 0        # continuous: over the rate cap, not classified
    results: int = 0
    presses_without_frames: int = 0
    last_skip_reason: str = ""
    last_latency_s: float = 0.0    # model time of the last call (one press, contact or frame)
    model_time_s: float = 0.0      # total model time
    reasons: dict[str, int] = field(default_factory=lambda: {r.value: 0 for r in Reason})  # results per reason

    @property
    def latency_per_frame_s(self) -> float:
        return self.model_time_s / self.frames_classified if self.frames_classified else 0.0


class ReferenceFrame:
    """The sensor's no-contact frame: from a file, or the median of the next N frames on request."""

    def __init__(self, frames_needed: int) -> None:
        self.frames_needed = frames_needed
        self.image: np.ndarray | None = None
        self.source = "none"
        self._pending: list[np.ndarray] | None = None
        self._pending_source = ""

    def set(self, image: np.ndarray, source: str) -> None:
        self.image, self.source = image, source

    def capture_next(self, source: str) -> None:
        self._pending, self._pending_source = [], source

    @property
    def capturing(self) -> bool:
        return self._pending is not None

    def describe(self) -> str:
        if self._pending is not None:
            return f"capturing ({self._pending_source}, {len(self._pending)}/{self.frames_needed} frames)"
        return self.source

    def offer(self, frame: np.ndarray) -> None:
        if self._pending is None:
            return
        self._pending.append(frame)
        if len(self._pending) >= self.frames_needed:
            self.set(np.median(np.stack(self._pending), axis=0).astype(np.uint8), self._pending_source)
            log.info("reference frame captured (%s, median of %d frames)", self._pending_source, len(self._pending))
            self._pending = None


class Trigger(Protocol):
    frame_queue_depth: ClassVar[int]   # the image subscription's queue: 1 where only the newest frame may be used
    uses_position: ClassVar[bool]      # its results carry where the sensor pressed (the arm's tool pose)

    def on_frame(self, frame: StampedFrame) -> list[Classification]: ...
    def on_state(self, state: str, now_s: float) -> list[Classification]: ...
    def on_press(self, stamp_s: float, position_m: Position | None, frame_id: str) -> list[Classification]: ...


class _Idle:
    """Default handlers: a trigger overrides the events it cares about."""

    needs_reference: ClassVar[bool] = False   # even when the model does not subtract one
    frame_queue_depth: ClassVar[int] = 5
    uses_position: ClassVar[bool] = False

    def on_state(self, state: str, now_s: float) -> list[Classification]:
        return []

    def on_press(self, stamp_s: float, position_m: Position | None, frame_id: str) -> list[Classification]:
        return []


class LiveClassifier:
    """The model, the reference, the counters and the configured trigger."""

    def __init__(self, model: OnnxClassifier, config: ClassifierConfig, reference: np.ndarray | None = None) -> None:
        self.model = model
        self.config = config
        self.counters = Counters()
        self.freshness = FrameFreshness()
        self.reference = ReferenceFrame(config.reference_frames)
        self.recognizer = Recognizer(model, config.contact, config.confidence_threshold)
        trigger_class = TRIGGERS[config.trigger]
        self.needs_reference = True  # every frame is checked for contact against it (recognition.py)
        if reference is not None:
            self._check_reference(reference)
            self.reference.set(reference, f"file {config.reference_file}" if config.reference_file else "given")
        elif self.needs_reference:
            self.reference.capture_next("start-up")
        self.trigger: Trigger = trigger_class(self)

    @classmethod
    def from_config(cls, config: ClassifierConfig) -> LiveClassifier:
        """Load and verify the model (ModelIntegrityError on a sha256 mismatch) and the reference file."""
        reference = None
        if config.reference_file:
            reference = cv2.imread(config.reference_file, cv2.IMREAD_COLOR)
            if reference is None:
                raise ValueError(f"reference_file = {config.reference_file!r} is not a readable image")
        return cls(OnnxClassifier(config.model_path, threads=config.inference_threads), config, reference)

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.model.class_names

    def reload_model(self, model_path: str) -> tuple[str, ...]:
        """Load ``model_path`` (verified against its card's sha256 and familiarity statistics) and use it from
        the next frame on; returns its classes. On any error (ModelIntegrityError, naming the problem) the
        current model stays. A cycle or contact in progress is dropped: its frames were scored by the old model."""
        if not model_path:
            raise ModelIntegrityError("model_path is empty: give the path of an ONNX model with its card beside it")
        try:
            model = OnnxClassifier(model_path, threads=self.config.inference_threads)
        except ModelIntegrityError:
            raise
        except Exception as exc:  # onnxruntime refuses a file that is not a model: its own exception types
            raise ModelIntegrityError(f"model file {model_path} cannot be loaded by ONNX Runtime: {exc}") from None
        # from here on nothing can fail: the swap is a few assignments between two events
        self.model = model
        self.config = replace(self.config, model_path=str(model_path))
        self.recognizer = Recognizer(model, self.config.contact, self.config.confidence_threshold)
        self.trigger = TRIGGERS[self.config.trigger](self)
        log.info("now classifying with %s (sha256 %s…, classes %s)", model_path, model.sha256[:12],
                 ", ".join(model.class_names))
        return model.class_names

    @property
    def expected_size(self) -> tuple[int, int]:
        return self.config.image_width, self.config.image_height

    def _check_reference(self, image: np.ndarray) -> None:
        if image.shape != (self.config.image_height, self.config.image_width, 3):
            raise ValueError(f"reference frame is {image.shape[1]}x{image.shape[0]} px, frames are "
                             f"{self.config.image_width}x{self.config.image_height}: use a reference of the same "
                             "sensor at the same resolution (or set image_width/image_height)")

    # --- events -------------------------------------------------------------------------
    def on_image(self, stamp_s: float, encoding: str, height: int, width: int, step: int,
                 data: ByteData, delivery: Delivery | None = None) -> list[Classification]:
        """A raw image message: checked, converted, then handed to the trigger; malformed ones are counted.

        ``delivery``: when and how the message reached the node, on the camera's clock; it feeds
        :attr:`freshness`."""
        self.counters.frames_received += 1
        try:
            image = frame_from_fields(encoding, height, width, step, data, self.expected_size)
        except ImageFormatError as exc:
            self.counters.frames_skipped += 1
            self.counters.last_skip_reason = str(exc)
            log.debug("image skipped: %s", exc)
            results: list[Classification] = []
        else:
            results = self.on_frame(StampedFrame(stamp_s, image))
        if delivery is not None:
            self.freshness.received(stamp_s, delivery, classified=any(r.stamp_s == stamp_s for r in results))
        return results

    def on_frame(self, frame: StampedFrame) -> list[Classification]:
        if self.reference.capturing:
            self.reference.offer(frame.image)
            return []  # a reference frame is not also a frame to classify
        return self._count(self.trigger.on_frame(frame))

    def on_state(self, state: str, now_s: float) -> list[Classification]:
        return self._count(self.trigger.on_state(state.strip(), now_s))

    def on_press(self, stamp_s: float, position_m: Position | None = None, frame_id: str = "") -> list[Classification]:
        return self._count(self.trigger.on_press(stamp_s, position_m, frame_id))

    def _count(self, results: list[Classification]) -> list[Classification]:
        self.counters.results += len(results)
        for result in results:
            if result.reason:
                self.counters.reasons[result.reason] = self.counters.reasons.get(result.reason, 0) + 1
        return results

    # --- shared by the triggers ---------------------------------------------------------
    def assess(self, frames: list[np.ndarray]) -> tuple[list[FrameAssessment], float] | None:
        """Per-frame contact, probabilities and familiarity, and the time it took; None without a reference yet."""
        reference = self.reference.image
        if reference is None:
            log.warning("%d frame(s) not classified: no no-contact reference yet (waiting for %d frames)",
                        len(frames), self.config.reference_frames)
            return None
        start = time.perf_counter()
        probs = self.recognizer.assess(frames, reference)
        latency = time.perf_counter() - start
        c = self.counters
        c.frames_classified += len(frames)
        c.model_time_s += latency
        c.last_latency_s = latency
        return probs, latency

    def conclude(self, groups: list[list[FrameAssessment]], frame: np.ndarray, latency_s: float, stamp_s: float,
                 position_m: Position | None = None, frame_id: str = "") -> Classification:
        """One labelled result from the assessed frames of each press (recognition.py decides)."""
        decision = self.recognizer.decide(groups)
        return Classification(decision.label, decision.confidence, decision.probabilities, frame,
                              sum(len(g) for g in groups), len(groups), latency_s, stamp_s, position_m, frame_id,
                              decision.reason, decision.familiarity)


@dataclass
class _Press:
    """One press's hold window and what has been classified of it so far."""

    stamp_s: float
    end_s: float
    position_m: Position | None
    frame_id: str
    picks_s: deque[float]                        # pick times not reached yet, ascending
    assessments: list[FrameAssessment] = field(default_factory=list)
    frames: list[StampedFrame] = field(default_factory=list)
    latency_s: float = 0.0

    @property
    def complete(self) -> bool:
        """Every pick time has had its frame: nothing more of this window would be used."""
        return not self.picks_s

    def wants(self, frame: StampedFrame) -> bool:
        """In the window and at or past the next pick time."""
        return self.stamp_s <= frame.stamp_s <= self.end_s and bool(self.picks_s) and frame.stamp_s >= self.picks_s[0]


class PressTrigger(_Idle):
    """Classify each press's hold window as its frames arrive; fuse the presses of one palpation cycle."""

    uses_position = True

    KEEP_EXTRA_S: ClassVar[float] = 2.0  # frames are kept this long beyond the hold window

    def __init__(self, live: LiveClassifier) -> None:
        self.live = live
        self.config = live.config
        self._frames: deque[StampedFrame] = deque()
        self._reset()

    def _reset(self) -> None:
        self._active = False
        self._concluded = False
        self._open: list[_Press] = []
        self._closed: list[_Press] = []
        self._first_press: _Press | None = None

    def _picks(self, stamp_s: float) -> deque[float]:
        """The window cut into ``max_frames_per_press`` equal slices, one pick at the start of each."""
        n = self.config.max_frames_per_press
        return deque(stamp_s + i * self.config.hold_window_s / n for i in range(n))

    def _take(self, press: _Press, frame: StampedFrame) -> None:
        """Classify one frame of ``press`` now; the picks it passed are done."""
        while press.picks_s and press.picks_s[0] <= frame.stamp_s:
            press.picks_s.popleft()
        scored = self.live.assess([frame.image])
        if scored is None:
            return
        press.assessments.append(scored[0][0])
        press.frames.append(frame)
        press.latency_s += scored[1]

    def on_frame(self, frame: StampedFrame) -> list[Classification]:
        self._frames.append(frame)
        horizon = frame.stamp_s - (self.config.hold_window_s + self.KEEP_EXTRA_S)
        while self._frames and self._frames[0].stamp_s < horizon:
            self._frames.popleft()
        for press in self._open:
            if press.wants(frame):
                self._take(press, frame)
        for press in [p for p in self._open if p.complete or frame.stamp_s > p.end_s]:
            self._close(press)
        return self._conclude_if_complete()

    def on_state(self, state: str, now_s: float) -> list[Classification]:
        if state == "approaching":
            if self._closed or self._open:
                log.warning("a new cycle started before the last one was done: its %d press(es) are dropped",
                            len(self._closed) + len(self._open))
            self._reset()
            self._active = True
            if self.live.needs_reference and not self.config.reference_file:
                self.live.reference.capture_next("cycle start")
        elif state == "retracting":
            for press in self._open:
                press.end_s = min(press.end_s, now_s)
        elif state == "done":
            for press in list(self._open):
                self._close(press)
            result = [] if self._concluded else self._finish()
            self._reset()
            return result
        elif state.startswith("fault"):
            if self._active:
                log.warning("palpation %s: the cycle's presses are dropped, no label", state)
            self._reset()
        return []

    def on_press(self, stamp_s: float, position_m: Position | None, frame_id: str) -> list[Classification]:
        if not self._active:
            log.info("press at %.3f s outside a cycle (started mid-cycle?): it starts one", stamp_s)
            self._active = True
        if self._concluded:
            log.warning("press at %.3f s after this cycle's %d presses were labelled: ignored (is "
                        "presses_per_cycle the routine's `presses`?)", stamp_s, self.config.presses_per_cycle)
            return []
        press = _Press(stamp_s, stamp_s + self.config.hold_window_s, position_m, frame_id, self._picks(stamp_s))
        self._first_press = self._first_press or press
        self._open.append(press)
        for frame in [f for f in self._frames if f.stamp_s >= stamp_s]:  # frames that came before the message
            if press.wants(frame):
                self._take(press, frame)
        if press.complete or (self._frames and self._frames[-1].stamp_s > press.end_s):
            self._close(press)
        return self._conclude_if_complete()

    def _close(self, press: _Press) -> None:
        self._open.remove(press)
        if not press.assessments:
            self.live.counters.presses_without_frames += 1
            log.warning("press at %.3f s: no frame classified in its hold window [%.3f, %.3f] s; is the camera "
                        "streaming, and are both clocks the same?", press.stamp_s, press.stamp_s, press.end_s)
            return
        self._closed.append(press)

    def _conclude_if_complete(self) -> list[Classification]:
        wanted = self.config.presses_per_cycle
        if self._concluded or not wanted or len(self._closed) < wanted or self._open:
            return []
        self._concluded = True
        return self._finish()

    def _finish(self) -> list[Classification]:
        if not self._closed:
            if self._active:
                log.warning("palpation cycle done without a classified press: no label published")
            return []
        last = self._closed[-1]
        shown = last.frames[len(last.frames) // 2]
        first = self._first_press
        return [self.live.conclude([p.assessments for p in self._closed], shown.image,
                                   sum(p.latency_s for p in self._closed), max(f.stamp_s for f in last.frames),
                                   first.position_m if first else None, first.frame_id if first else "")]


class ContactTrigger(_Idle):
    """One label per touch of a hand-held sensor."""

    needs_reference = True  # the contact detector compares every frame with it

    def __init__(self, live: LiveClassifier) -> None:
        self.live = live
        self.detector = ContactDetector(live.config.contact)
        self.last_score = 0.0
        self._frames: list[np.ndarray] = []
        self._labelled = False
        self._last_stamp_s = 0.0

    def on_frame(self, frame: StampedFrame) -> list[Classification]:
        reference = self.live.reference.image
        if reference is None:
            return []
        self._last_stamp_s = frame.stamp_s
        self.last_score = contact_score(frame.image, reference, self.live.config.contact)
        event = self.detector.update(self.last_score)
        results: list[Classification] = []
        if self.detector.in_contact and not self._labelled:
            self._frames.append(frame.image)
            if len(self._frames) >= self.live.config.frames_per_contact:
                results = self._label()
        if event is ContactEvent.ENDED:
            if not self._labelled and self._frames:
                results = self._label()
            self._frames, self._labelled = [], False
        return results

    def _label(self) -> list[Classification]:
        self._labelled = True
        scored = self.live.assess(self._frames)
        if scored is None:
            return []
        return [self.live.conclude([scored[0]], self._frames[-1], scored[1], self._last_stamp_s)]


class ContinuousTrigger(_Idle):
    """Every frame as it arrives, at most ``continuous_rate_hz`` a second; never a stale one.

    The rate is a token bucket on capture stamps (one token per period, at most
    ``BURST_TOKENS`` saved): at a rate equal to the camera's, stamp jitter drops no frames,
    and over time no more than the rate are classified. The image queue is one deep, so
    the frame handed over is the newest the middleware holds.
    """

    frame_queue_depth: ClassVar[int] = 1
    BURST_TOKENS: ClassVar[float] = 2.0
    TOKEN_EPSILON: ClassVar[float] = 1e-3   # six 1/60 s frames at 10 Hz make 0.99999... tokens

    def __init__(self, live: LiveClassifier) -> None:
        self.live = live
        self.rate_hz = live.config.continuous_rate_hz
        self._tokens = 1.0
        self._last_stamp_s: float | None = None

    def on_frame(self, frame: StampedFrame) -> list[Classification]:
        if self._last_stamp_s is not None:
            elapsed = max(0.0, frame.stamp_s - self._last_stamp_s)
            self._tokens = min(self.BURST_TOKENS, self._tokens + elapsed * self.rate_hz)
        self._last_stamp_s = frame.stamp_s
        if self._tokens < 1.0 - self.TOKEN_EPSILON:
            self.live.counters.frames_dropped += 1
            return []
        scored = self.live.assess([frame.image])
        if scored is None:
            return []
        self._tokens -= 1.0
        return [self.live.conclude([scored[0]], frame.image, scored[1], frame.stamp_s)]


TRIGGERS: dict[str, type[PressTrigger | ContactTrigger | ContinuousTrigger]] = {"press": PressTrigger, "contact": ContactTrigger, "continuous": ContinuousTrigger}
