"""Run bookkeeping: everything about an experiment except the model and the data.

Layers, each importing only those listed before it (a test walks the imports to keep it so):

    git.py         run git (standard library only)
    naming.py      the branch naming rules (standard library only: the git hook needs no install)
    folder.py      experiment/<name>/: the one owner of its name rule and of every path inside it
    record.py      record.yaml: command, overrides, code, data, machine, sessions
    config.py      conf/ resolvers, sweep job names, resume and repeat from a record
    build.py       conf/ group -> object, a refused value a one-line error naming its key
    experiment.py  plan_run(), open_experiment(): the rank-0 bookkeeping around one training run
    branch.py, report.py, curves.py   command-line tools (python -m bookkeeping.<tool>)

Model-side code (src/, utils/, data/) never imports this package; the entry points do.
"""
