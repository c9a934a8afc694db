"""Test-suite settings."""

import torch

# The suite runs in two pytest-xdist workers on a 2-core machine: one torch
# thread each avoids oversubscription, which slows small networks tenfold.
torch.set_num_threads(1)
