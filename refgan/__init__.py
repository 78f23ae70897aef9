"""refgan: reference GANs in NumPy, with a double-backprop autograd."""
from refgan.errors import UserError

__version__ = "0.1.0"
