"""edgecnn: train the classic Keras MNIST CNN and carry it to a device.

Importing the package is cheap on purpose: nothing here imports TensorFlow, so
``edgecnn --help`` and the TF-free runtime start instantly.
"""

__version__ = "0.1.0"
