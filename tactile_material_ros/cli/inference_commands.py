"""`tactile-material contact`: the classifier's contact detector on image files.

So that a user can tune ``contact_enter_score`` / ``contact_exit_score`` on their own sensor:
record a no-contact frame and a few presses, and see the scores the node would compute.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import cv2
import numpy as np

from tactile_material_ros.inference.contact_detection import ContactConfig, contact_score

log = logging.getLogger(__name__)


def _read(path: str) -> np.ndarray | None:
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        log.error("cannot read image %s", path)
    return image


def contact(args: argparse.Namespace) -> int:
    try:
        config = ContactConfig(enter_score=args.enter)
    except ValueError as exc:
        log.error("%s", exc)
        return 2
    reference = _read(args.reference)
    if reference is None:
        return 2
    failed = False
    for path in args.images:
        image = _read(path)
        if image is None or image.shape != reference.shape:
            if image is not None:
                log.error("%s is %dx%d px, the reference %dx%d px: use frames of the same sensor and resolution",
                          path, image.shape[1], image.shape[0], reference.shape[1], reference.shape[0])
            failed = True
            continue
        score = contact_score(image, reference, config)
        touching = score >= config.enter_score
        if args.json:
            sys.stdout.write(json.dumps({"image": path, "contact": touching, "score": round(score, 4)}) + "\n")
        else:
            sys.stdout.write(f"{score:7.4f}  {'contact' if touching else '-      '}  {Path(path).name}\n")
    return 1 if failed else 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "contact",
        help="score tactile images against a no-contact frame with the classifier's contact detector",
        description="Print, per image, the contact score (a fraction of the sensor's brightness; see "
                    "inference/contact_detection.py) and whether it reaches the enter threshold. Use it to pick "
                    "contact_enter_score / contact_exit_score for your sensor.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE", help="tactile frames (PNG/JPEG), same sensor and size")
    p.add_argument("--reference", required=True, metavar="NO_CONTACT.png", help="the sensor's no-contact frame")
    p.add_argument("--enter", type=float, default=ContactConfig.enter_score,
                   help="score at which a frame counts as contact (default %(default)s)")
    p.add_argument("--json", action="store_true", help='one JSON line per image: {"image", "contact", "score"}')
    p.set_defaults(func=contact)
