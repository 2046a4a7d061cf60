"""``ganlab report``: one self-contained HTML page on a run folder (curves, metrics, panels).

Reads ``logs/csv/metrics.csv`` (Lightning's ``CSVLogger``) with the ``csv`` module, draws PNG
plots with matplotlib (Agg canvas, no pyplot state) and writes ``index.html`` with the plots
embedded as base64 data URIs, so the page can be mailed or archived on its own.

Columns are grouped by prefix, not by a fixed list, so new loss terms and metrics show up:
``train/d_*`` discriminator terms, ``train/d_*prob`` D(real)/D(fake), ``train/g_*`` and
``train/feature_matching`` generator adversarial terms, other ``train/*`` content terms,
``lr/*`` or ``train/lr_*`` learning rates, ``val/<m>`` against ``val/<m>_bicubic``,
``grad_norm/<network>``, and any other prefix under "Other logged scalars".

The x axis is the module's own generator step counter (``train/step``). Rows without it (e.g.
validation) are placed by Lightning's ``step`` column, mapped through the training rows; a
validation row gets that step plus one, because it runs after the step was taken (the panel of
that validation is named with the same number).
"""

from ganlab.report.metrics_log import METRICS_FILE, MetricsLog, Series
from ganlab.report.page import write_report
from ganlab.report.records import FigureRecord, Report, ReportError

__all__ = [
    "METRICS_FILE",
    "FigureRecord",
    "MetricsLog",
    "Report",
    "ReportError",
    "Series",
    "write_report",
]
