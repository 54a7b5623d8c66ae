"""Lightning's TensorBoardLogger, plus what makes TensorBoard a dashboard: the HPARAMS tab and train-vs-val charts.

HPARAMS: Lightning only fills that tab when given metric values up front, which it writes as placeholder
scalars at step 0. Here the config goes in with the metric *names*; TensorBoard reads each run's latest value
of those tags, i.e. its final metrics, with no placeholder point on any curve.
Charts: a CUSTOM SCALARS layout draws train and val of the same measure in one chart.
"""

from __future__ import annotations

import re
from argparse import Namespace
from collections.abc import Mapping, Sequence
from typing import Any

from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only
from tensorboard.compat.proto.summary_pb2 import Summary, SummaryMetadata
from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
from torch.utils.tensorboard.summary import hparams

from src.core.lightning_compat import loggable_params, tensorboard_file_writer

SESSION_STATUS = {"success": api_pb2.STATUS_SUCCESS, "failed": api_pb2.STATUS_FAILURE}


class DashboardTensorBoardLogger(TensorBoardLogger):
    """TensorBoardLogger whose `log_hyperparams` also writes the HPARAMS session and the chart layout."""

    def __init__(
        self,
        *args: Any,
        hparam_metrics: Sequence[str] = (),
        charts: Mapping[str, Sequence[str]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.hparam_metrics = list(hparam_metrics)
        self.charts = {name: list(tags) for name, tags in (charts or {}).items()}

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, metrics: dict[str, Any] | None = None) -> None:
        super().log_hyperparams(params, metrics)  # hparams.yaml (and Lightning's own summary if given metrics)
        if metrics is None and self.hparam_metrics:
            flat = self._sanitize_params(loggable_params(params))
            writer = tensorboard_file_writer(self.experiment)
            experiment, session_start, _ = hparams(flat, dict.fromkeys(self.hparam_metrics, 0.0))
            writer.add_summary(experiment)
            writer.add_summary(session_start)  # the session's end, with its status, is written by finalize
        if self.charts:
            self.experiment.add_custom_scalars(
                {
                    "train vs val": {
                        name: ["Multiline", [f"^{re.escape(t)}$" for t in tags]] for name, tags in self.charts.items()
                    }
                }
            )

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """End the HPARAMS session with Lightning's status (success, failed): a crashed run does not read as done."""
        if self.hparam_metrics and self._experiment is not None:
            code = SESSION_STATUS.get(status, api_pb2.STATUS_UNKNOWN)
            tensorboard_file_writer(self.experiment).add_summary(session_end(code))
        super().finalize(status)


def session_end(status: int) -> Summary:
    """The HPARAMS session-end record with this status (torch's `hparams()` always writes success, at once)."""
    content = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status), version=metadata.PLUGIN_DATA_VERSION
    )
    plugin_data = SummaryMetadata.PluginData(plugin_name=metadata.PLUGIN_NAME, content=content.SerializeToString())
    return Summary(
        value=[Summary.Value(tag=metadata.SESSION_END_INFO_TAG, metadata=SummaryMetadata(plugin_data=plugin_data))]
    )
