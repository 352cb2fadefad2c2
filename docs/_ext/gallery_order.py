"""Order of the examples in the gallery: from the first fit to the finer points.

sphinx-gallery imports this by name (``within_subsection_order``), so the Sphinx
configuration stays picklable; a function defined in conf.py would not be.
"""

EXAMPLE_ORDER = [
    "plot_quick_start.py",
    "plot_embedding.py",
    "plot_supervision_ablation.py",
    "plot_regularisers.py",
    "plot_tau.py",
    "plot_model_selection.py",
    "plot_image_folder.py",
]


def example_order(filename):
    """Sort key of an example file: its place in EXAMPLE_ORDER, unknown files last."""
    if filename in EXAMPLE_ORDER:
        return (EXAMPLE_ORDER.index(filename), filename)
    return (len(EXAMPLE_ORDER), filename)
