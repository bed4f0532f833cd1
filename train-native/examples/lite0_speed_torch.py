"""PyTorch twin of `lite0_speed.rs`: EfficientNet-Lite0 fine-tuned whole on random batches.

    python3 train-native/examples/lite0_speed_torch.py [--threads 2] [--batch 32] [--steps 5]
        [--height 120] [--width 160] [--frozen 0]

Prints `train <N> img/s` (forward, backward and AdamW, label smoothing 0.05, a 7-class head).
The layers are those of `src/model/lite0.rs` (TF "SAME" padding through explicit pads).
"""
import argparse
import os
import sys

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from lite0_reference import same_pad  # noqa: E402  (one definition of TF's padding)
from train_speed_torch import train_rate  # noqa: E402  (one timing loop for both twins)

STAGES = [(1, 3, 1, 1, 16), (2, 3, 2, 6, 24), (2, 5, 2, 6, 40), (3, 3, 2, 6, 80),
          (3, 5, 1, 6, 112), (4, 5, 2, 6, 192), (1, 3, 1, 6, 320)]


class SameConv(nn.Conv2d):
    def forward(self, x):
        return super().forward(same_pad(x, self.kernel_size[0], self.stride[0]))


def conv_bn(cin, cout, k=1, s=1, groups=1, act=True):
    layers = [SameConv(cin, cout, k, s, groups=groups, bias=False), nn.BatchNorm2d(cout, eps=1e-3)]
    return nn.Sequential(*(layers + [nn.ReLU6(inplace=True)] if act else layers))


class MbConv(nn.Module):
    def __init__(self, cin, cout, k, s, e):
        super().__init__()
        wide = cin * e
        self.body = nn.Sequential(*([conv_bn(cin, wide)] if e != 1 else []),
                                  conv_bn(wide, wide, k, s, wide), conv_bn(wide, cout, act=False))
        self.residual = s == 1 and cin == cout

    def forward(self, x):
        return x + self.body(x) if self.residual else self.body(x)


def lite0(classes=7, dropout=0.2):
    layers, c = [conv_bn(3, 32, 3, 2)], 32
    for repeats, k, s, e, out in STAGES:
        for r in range(repeats):
            layers.append(MbConv(c, out, k, s if r == 0 else 1, e))
            c = out
    layers += [conv_bn(c, 1280), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout),
               nn.Linear(1280, classes)]
    return nn.Sequential(*layers)


def main():
    p = argparse.ArgumentParser()
    for name, default in [("threads", 2), ("batch", 32), ("steps", 5), ("height", 120), ("width", 160),
                          ("frozen", 0)]:
        p.add_argument(f"--{name}", type=int, default=default)
    a = p.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(a.threads)
    net = lite0()
    # The stem and the first N blocks frozen, batch norms on running statistics (as in burn's
    # `Lite0::freeze_first`).
    frozen = list(net[:1 + a.frozen])
    for module in frozen:
        module.requires_grad_(False)
    optim = torch.optim.AdamW([p for p in net.parameters() if p.requires_grad], lr=1e-3,
                              weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    x = torch.randn(a.batch, 3, a.height, a.width)
    y = torch.arange(a.batch) % 7
    net.train()
    for module in frozen:
        module.eval()
    rate = train_rate(net, optim, loss_fn, x, y, a.steps, warmup=1)
    print(f"pytorch {torch.__version__}: Lite0 at {a.height}x{a.width}, batch {a.batch}, {a.threads} threads, "
          f"{a.frozen} blocks frozen")
    print(f"train {rate:.1f} img/s")


if __name__ == "__main__":
    main()
