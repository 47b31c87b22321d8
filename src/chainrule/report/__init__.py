"""Run reports: PNG plots of training (matplotlib, loaded on first use) and a Markdown/HTML page.

Importing this package does not import matplotlib; each plot function does, and raises a
``ConfigError`` with the install hint (``pip install "chainrule[plots]"``) when it is missing.
"""

from __future__ import annotations

from chainrule.report.document import write_report
from chainrule.report.plots import (
    plot_confusion_matrix,
    plot_gradient_norms,
    plot_learning_curves,
    plot_lr_finder,
    plot_samples,
    plot_weight_images,
)

__all__ = [
    "plot_learning_curves",
    "plot_confusion_matrix",
    "plot_weight_images",
    "plot_gradient_norms",
    "plot_lr_finder",
    "plot_samples",
    "write_report",
]
