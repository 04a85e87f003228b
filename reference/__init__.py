"""PyTorch twins of the scratch networks: float64, autograd, ``torch.optim.SGD``.

Each twin is an ordinary ``torch.nn.Module`` built from framework pieces
(``nn.Linear``, ``torch.sigmoid``, ``F.mse_loss``) so that it is an independent
oracle, not a transcription of the scratch code.  The map between scratch
parameter names and the twin's tensors lives in ``tutorials.networks``.
"""
