"""What every command does around its work: config checks, one-line errors for bad input, and the run folder
of a refused run."""
