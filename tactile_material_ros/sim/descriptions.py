"""TVL-style tactile descriptions: captions sampled from a material's real caption statistics.

A TVL caption is a comma-separated list of 2-5 descriptive terms ("smooth, hard, cool").
For each material the library holds how often each term occurs in that class's real
captions (``Material.terms``, share of captions containing the term) and how many terms a
caption has (``Material.terms_per_caption``). A synthetic caption draws its length from the
second and then that many distinct terms with probability proportional to the first, so the
synthetic data set reproduces both statistics (up to the cap of drawing without replacement).
"""

from __future__ import annotations

import numpy as np

from tactile_material_ros.sim.materials import Material


def sample_caption(material: Material, rng: np.random.Generator) -> str:
    """One caption for ``material``, e.g. ``"smooth, cool, hard"``."""
    if not material.terms:
        raise ValueError(f"material {material.name!r} has no caption terms in the library")
    lengths = np.array(sorted(material.terms_per_caption), dtype=int)
    length_p = np.array([material.terms_per_caption[n] for n in lengths], dtype=float)
    n_terms = int(rng.choice(lengths, p=length_p / length_p.sum()))
    n_terms = max(1, min(n_terms, len(material.terms)))
    term_p = np.array([t.freq for t in material.terms], dtype=float)
    chosen = rng.choice(len(material.terms), size=n_terms, replace=False, p=term_p / term_p.sum())
    return ", ".join(material.terms[i].term for i in chosen)
