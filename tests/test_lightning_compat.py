"""The private Lightning / Hydra / torch names src/core/lightning_compat.py relies on exist in the installed versions:
an upgrade that removes one fails here, by name, not inside a run."""

import inspect

import lightning as L
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from torch.utils.tensorboard import SummaryWriter

from src.core import lightning_compat


def test_every_private_name_the_project_uses_is_still_there(tmp_path):
    trainer = L.Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    assert hasattr(trainer._signal_connector, "received_sigterm")
    lightning_compat.stop_at_batch_end(trainer)
    assert trainer.received_sigterm  # the public read of the same flag: Lightning acts on it
    assert callable(trainer._checkpoint_connector.dump_checkpoint)
    assert lightning_compat.loggable_params({"a": {"b": 1}, "c": None}) == {"a/b": 1, "c": None}
    writer = SummaryWriter(log_dir=str(tmp_path))
    assert hasattr(lightning_compat.tensorboard_file_writer(writer), "add_summary")
    writer.close()
    assert list(inspect.signature(lightning_compat.run_and_report).parameters) == ["func"]
    instances = {  # what our subclasses subclass, built as they build it
        ExperimentWriter: ExperimentWriter(log_dir=str(tmp_path / "csv")),
        CSVLogger: CSVLogger(save_dir=str(tmp_path)),
        Timer: Timer(duration="00:00:01:00"),
    }
    for cls, name in lightning_compat.OVERRIDDEN:
        assert hasattr(instances[cls], name), f"{cls.__name__}.{name} is gone"
