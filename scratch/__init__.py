"""From-scratch NumPy networks, one module per tutorial network.

Each keeps its tutorial's structure and method names; initial parameters (and
the random generator where the tutorial samples) come from the caller, with a
default that replays the tutorial's own ``np.random`` draws from a fixed seed.
"""
