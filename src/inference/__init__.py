"""A trained run at work: loading it back, uncertainty, evaluation, prediction and export."""
