"""PNG plots of a training run: learning curves, confusion matrix, weights, gradients, LR finder.

The plots live in ``report.curves`` (line plots) and ``report.images`` (image plots), on the
shared figure helpers of ``report.figure``; this module gathers them. matplotlib is optional and
imported only inside the functions. Every function writes its PNG atomically (temp file in the
same folder, then ``os.replace``) and returns the path.
"""

from __future__ import annotations

from chainrule.report.curves import plot_gradient_norms, plot_learning_curves, plot_lr_finder
from chainrule.report.images import plot_confusion_matrix, plot_samples, plot_weight_images

__all__ = [
    "plot_learning_curves",
    "plot_confusion_matrix",
    "plot_weight_images",
    "plot_gradient_norms",
    "plot_lr_finder",
    "plot_samples",
]
