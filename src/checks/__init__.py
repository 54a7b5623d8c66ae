"""`python -m src.gpu_check`: the GPU path proven in one command, each part a real CLI run in its own process with
its own time limit, recorded in one gpu_check.json."""
