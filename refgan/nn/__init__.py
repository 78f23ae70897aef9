"""Neural-network modules (PyTorch's ``torch.nn`` names and layouts)."""
from refgan.nn import init
from refgan.nn.layers import (AdaptiveAvgPool2d, AvgPool2d, BatchNorm1d, BatchNorm2d, Conv2d,
                              ConvTranspose2d, Dropout, Embedding, Flatten, Identity, LeakyReLU,
                              Linear, MaxPool2d, MinibatchStd, ReLU, Sequential, Sigmoid, SiLU,
                              Softplus, SqueezeExcite, Tanh, Unflatten, Upsample, ZeroPad2d)
from refgan.nn.module import Module, Parameter

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BatchNorm1d", "BatchNorm2d", "Conv2d",
           "ConvTranspose2d", "Dropout", "Embedding", "Flatten", "Identity", "LeakyReLU", "Linear", "MaxPool2d",
           "MinibatchStd", "Module", "Parameter", "ReLU", "Sequential", "Sigmoid", "SiLU",
           "Softplus", "SqueezeExcite", "Tanh", "Unflatten", "Upsample", "ZeroPad2d", "init"]
