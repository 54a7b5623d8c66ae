"""UNet / UNet++ semantic segmentation on Cityscapes-like street scenes, driven by Lightning and Hydra."""

import warnings

from src.cli.tool_configs import register_tool_schemas
from src.core.config_resolvers import register_resolvers
from src.data.labels import register_label_resolvers
from src.sweeps.slurm_allocation import register_slurm_resolvers

for register in (register_resolvers, register_label_resolvers, register_slurm_resolvers, register_tool_schemas):
    register()  # before any config is composed: the configs use them

# conf/hydra/launcher/submitit_slurm.yaml keeps the plugin's config name (the public hydra/launcher=submitit_slurm),
# so Hydra validates it against the plugin's schema, as wanted, and warns that Hydra 1.4 will not (we pin <1.4).
warnings.filterwarnings("ignore", message=r"\s*'hydra/launcher/submitit_slurm' is validated against ConfigStore")
