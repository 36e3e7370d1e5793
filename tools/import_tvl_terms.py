"""Regenerate config/materials.yaml from physical figures and the TVL caption statistics.

Usage: python tools/import_tvl_terms.py CAPTION_STATS.json > config/materials.yaml

Physical figures are typical handbook values (sources named per entry); the caption
terms and their frequencies are per-class figures counted from the captions of
Mashood3624/Language_Tactile @ 6bd7c2e (not distributed with this package: a ~5% weighted page sample of the labelled
TVL/SSVTP splits, label noise included). Only aggregate figures are kept.)
"""

from __future__ import annotations

import json
import sys

import yaml

TOP_TERMS = 12

# Texture periods are kept >= 0.45 mm (about 7 px on the QVGA frame) so that they survive
# the 2-3x downsampling to the model input; finer real textures would alias away.
# Texture amplitudes are half the peak-to-valley height of the relief a gel is pressed into
# (about Rz / 2), not Ra: textured moulded plastic VDI 3400 ref. 30-36 (Rz ~ 20-30 um);
# brushed steel, 80-120 grit (Rz ~ 10-20 um); sanded oak, open earlywood pores (Rz 40-80 um);
# embossed HPL laminate (relief 20-40 um); uncoated copy paper (Rz ~ 15-25 um); turned
# aluminium, feed 0.55 mm with a 1.6 mm nose radius (Rz = f^2 / 8r ~ 24 um).
# name: (E [Pa], poisson, texture kind, texture scale [m], texture amplitude [m],
#        roughness Ra [m], gloss 0..1, colour (descriptive, never rendered), source of E)
PHYSICAL: dict[str, tuple] = {
    "plastic": (2.3e9, 0.35, "orange_peel", 0.8e-3, 15e-6, 0.4e-6, 0.6, "white", "ABS, Callister Materials Science App. B"),
    "steel": (200e9, 0.29, "brushed", 0.45e-3, 8e-6, 0.3e-6, 0.7, "grey", "carbon steel, Callister App. B"),
    "fabric": (0.8e6, 0.30, "plain_weave", 0.8e-3, 60e-6, 20e-6, 0.05, "blue", "effective compressive modulus of a cotton fabric layer, Kawabata KES-FB3 range 0.1-1 MPa"),
    "metal": (110e9, 0.34, "knurled", 1.0e-3, 40e-6, 3e-6, 0.5, "bronze", "cast iron / brass, Callister App. B"),
    "rubber": (3.0e6, 0.49, "stipple", 0.5e-3, 25e-6, 5e-6, 0.15, "black", "natural rubber 60 Shore A, Gent, Engineering with Rubber"),
    "synthetic": (0.4e6, 0.30, "fleece", 0.5e-3, 80e-6, 40e-6, 0.05, "grey", "polyester fleece pile, compressive, Kawabata KES-FB3 range"),
    "towel": (0.1e6, 0.30, "loop_pile", 1.2e-3, 150e-6, 80e-6, 0.02, "white", "terry loop pile, compressive, Kawabata KES-FB3 range"),
    "carpet": (0.2e6, 0.30, "cut_pile", 2.0e-3, 250e-6, 120e-6, 0.02, "red", "cut-pile carpet, compressive, ISO 3416 thickness-loss range"),
    "wood": (11e9, 0.30, "wood_grain", 1.5e-3, 30e-6, 2e-6, 0.4, "brown", "oak along the grain, USDA Wood Handbook FPL-GTR-190 table 5-3a"),
    "cable": (20e6, 0.45, "strands", 1.8e-3, 120e-6, 2e-6, 0.5, "black", "flexible PVC insulation, Callister App. B (plasticised PVC range)"),
    "table": (4.0e9, 0.25, "laminate", 3.0e-3, 15e-6, 0.5e-6, 0.5, "beige", "MDF with HPL laminate, EN 622-5 typical"),
    "wall": (2.5e9, 0.25, "plaster", 0.9e-3, 30e-6, 10e-6, 0.1, "white", "gypsum plaster / drywall, Gypsum Association GA-235 range"),
    "polyester": (0.6e6, 0.30, "knit", 0.6e-3, 50e-6, 25e-6, 0.2, "green", "polyester knit layer, compressive, Kawabata KES-FB3 range"),
    "paper": (3.0e9, 0.30, "paper_fibre", 0.5e-3, 10e-6, 3e-6, 0.3, "white", "copy paper in-plane modulus, Niskanen Paper Physics ch. 5"),
    "leather": (40e6, 0.40, "pebble_grain", 1.0e-3, 45e-6, 8e-6, 0.3, "brown", "bovine upholstery leather, compressive range in Kronick & Page (J Am Leather Chem Assoc)"),
    "stone": (50e9, 0.25, "granular", 0.7e-3, 50e-6, 15e-6, 0.2, "grey", "granite, Goodman Intro. to Rock Mechanics table"),
    "aluminum": (69e9, 0.33, "turned", 0.55e-3, 12e-6, 0.8e-6, 0.6, "silver", "Al 6061-T6, ASM Handbook vol. 2"),
    "woven": (1.5e6, 0.30, "basket_weave", 2.5e-3, 200e-6, 60e-6, 0.1, "tan", "woven basketry / heavy canvas layer, compressive estimate"),
    "silicone": (1.0e6, 0.49, "smooth", 0.5e-3, 1e-6, 0.2e-6, 0.4, "translucent", "Shore 30A platinum silicone (the firmness of a moulded silicone ball), Smooth-On Dragon Skin 30 data sheet: 100% modulus 0.59 MPa; small-strain E ~ 1 MPa"),
}
ANISOTROPIC = {"brushed", "plain_weave", "knurled", "wood_grain", "strands", "laminate", "knit", "turned", "basket_weave", "cut_pile"}

SILICONE_TERMS = [  # ours: no silicone class in TVL; chosen to read like TVL captions
    ("soft", 0.70), ("smooth", 0.60), ("squishy", 0.45), ("flexible", 0.40), ("rubbery", 0.35),
    ("cushioned", 0.30), ("elastic", 0.30), ("sticky", 0.20), ("gel-like", 0.20), ("cool", 0.10),
]


def main(stats_path: str) -> None:
    stats = json.load(open(stats_path))
    out: dict = {"source": {
        "physical": "typical handbook values, cited per material in `modulus_source`",
        "terms": "term shares of real TVL/SSVTP captions per class, counted from Mashood3624/Language_Tactile "
                 "@ 6bd7c2e (weighted ~5% page sample, label noise included)",
        "generator": "tools/import_tvl_terms.py",
    }, "gel": {"youngs_modulus_pa": 2.0e6, "poisson_ratio": 0.48,
               "note": "effective modulus of a ~3 mm bonded elastomer layer (thin-layer stiffening of a ~0.5 MPa silicone)"},
        "materials": {}}
    for name, (e, nu, kind, scale, amp, ra, gloss, colour, src) in PHYSICAL.items():
        entry: dict = {
            "youngs_modulus_pa": e, "poisson_ratio": nu, "modulus_source": src,
            "texture": {"kind": kind, "scale_m": scale, "amplitude_m": amp, "anisotropic": kind in ANISOTROPIC},
            "roughness_ra_m": ra, "gloss": gloss, "colour": colour,
        }
        if name == "silicone":
            entry["tvl_class"] = None
            entry["terms_source"] = "ours (no silicone class in TVL)"
            entry["terms"] = [{"term": t, "freq": f} for t, f in SILICONE_TERMS]
            entry["terms_per_caption"] = {2: 0.05, 3: 0.26, 4: 0.22, 5: 0.47}
        else:
            entry["tvl_class"] = stats["paper_classes"][name]["csv_classes"][0]
            cls = stats["classes"][entry["tvl_class"]]
            entry["terms_source"] = "TVL/SSVTP caption statistics"
            entry["caption_count_sampled"] = cls["count"]
            entry["terms"] = [{"term": a["term"], "freq": a["freq"]} for a in cls["adjectives"][:TOP_TERMS]]
            hist = {int(k): v for k, v in cls["adjectives_per_caption"].items()}
            total = sum(hist.values())
            entry["terms_per_caption"] = {k: round(v / total, 3) for k, v in sorted(hist.items())}
        out["materials"][name] = entry
    sys.stdout.write("# Material library: generated by tools/import_tvl_terms.py; edit there.\n")
    sys.stdout.write(yaml.safe_dump(out, sort_keys=False, width=120))


if __name__ == "__main__":
    main(sys.argv[1])
