"""The names and defaults the command line offers before it runs anything: argparse's ``choices`` and defaults.

Kept in this module, which imports nothing, so that parsing the command line, ``rwbench --help`` and the light
commands (``list datasets``, ``leaderboard``, …) do not import torch, scikit-learn or librosa. Each value mirrors
the module that owns it (named beside it); ``tests/test_cli_friction.py`` checks that they agree.
"""

DEFAULT_GRID = "wide"  # backends.DEFAULT_GRID
GRID_NAMES = ("wide", "study", "wide-linear32")  # backends.GRID_NAMES
AGGREGATES = ("mean", "majority", "probability")  # evaluate.AGGREGATES
POOLINGS = ("mean", "mean_std", "max")  # frontend.POOLINGS
PRECISIONS = ("fp32", "bf16", "fp16")  # frontend.PRECISIONS (its keys)
INITS = ("he_normal", "he_uniform", "xavier_normal", "xavier_uniform", "xavier_uniform_relu")  # frontend.INITS (keys)
FORMATS = ("md", "csv", "json")  # leaderboard.FORMATS
REGIMES = ("auto", "folds", "clips")  # significance.REGIMES
TASK_TYPES = ("multiclass", "multilabel")  # tasks.TASK_TYPES (its keys)
PRIMARY_METRICS = ("accuracy", "roc_auc_macro")  # each of tasks.TASK_TYPES' primary metric
SELECT_ON = ("first-fold", "every-fold")  # fitting.SELECT_ON
REFITS = ("full", "fit-part")  # fitting.REFITS
LR_SCHEDULES = ("plateau", "constant")  # fitting.LR_SCHEDULES (its keys)
SILENCE_DBFS = -60.0  # fitting.SILENCE_DBFS
WINDOW_HOP = 0.5  # fitting.WINDOW_HOP
MST_LR = 3e-4  # pretrain.MST_LR
PRETRAINERS = ("mst",)  # pretrain.PRETRAINERS (its keys)
SEED_LIMIT = 2 ** 31  # seeds below it: scikit-learn's and numpy's random_state are 32-bit (and rwbench adds offsets)
MAX_SEEDS = 1000  # seeds of one run at most (a --seeds count beyond it is a seed typed as a count)
MAX_WIDTH = 1 << 20  # filters per layer: beyond, PyTorch's size arithmetic overflows before any memory check

# `rwbench run` with no options, and rwbench.run(): six front-ends of both input kinds, both backends of the study
DEFAULT_FRONTENDS = "sample_level,vgg,timbral,temporal,timbral_temporal,mfcc"
DEFAULT_BACKENDS = "svm,elm"
