"""Training: the LightningModule, losses, schedules, callbacks, loggers and the Trainer built from the config."""
