"""Benchmarks of the template: `python -m benchmarks.<name> [--quick]`, each printing a table.

overhead        the Lightning path of the template against a hand-written PyTorch loop
data_path       samples per second the DataModule delivers against what a training step consumes
cli             start-up time of `train.py --help`, `--cfg job` and `test.py --help`
time_to_result  the README's main command (prepare, train.py, test.py), end to end
switches        speed switches of the U-Net training step (compile, channels-last, bf16, threads,
                DataLoader workers)
"""
