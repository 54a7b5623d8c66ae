"""Ship a trained network: `python -m src.export ckpt_path=... format=onnx|torchscript` (conf/export.yaml).

Exports the network alone, not the LightningModule: input a normalised float image batch (N, 3, H, W), output
logits (N, C, H, W), with N, H and W all dynamic. A UNet++ with `prune_level=L` ships as its standalone pruned
copy (`NestedUNet.pruned`), which holds only what X^{0,L} needs. The written file is then loaded in its own
runtime (onnxruntime, or torch.jit.load) and run on a seeded random batch at the training size; its logits must
match the checkpoint's PyTorch model (as eval and predict run it) within `atol`, or the export fails.
Writes the file and export.json to its run folder; the work is src/inference/network_export.py's.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from src.cli.composition_errors import one_line_config_errors
from src.cli.exit_on_user_error import exit_on_user_error
from src.cli.run_report import write_run_report
from src.inference.network_export import export, summary_line


@one_line_config_errors
@hydra.main(version_base="1.3", config_path="../conf", config_name="export.yaml")
@exit_on_user_error
def main(cfg: DictConfig) -> None:
    report = export(cfg)
    path = write_run_report(cfg.paths.output_dir, "export.json", report)
    print(summary_line(report))
    print(f"report: {path}")


if __name__ == "__main__":
    main()
