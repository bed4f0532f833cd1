"""PyTorch twin of `train_speed.rs`: the shipped network, trained the same way on random batches.

Run it in the same sitting as the Rust benchmark so the ratio means something on a machine whose
timings drift by a third from run to run:

    pip install torch
    python3 train-native/examples/train_speed_torch.py [--threads 2] [--width 32] [--input 64]

It prints `train <N> img/s` (forward, backward and AdamW at batch 64, the shipped loss: class
weights and label smoothing 0.05) and `infer <N> ms` (one batch of 8 views, one thread): the
figures `cargo run --release -p train-native --example train_speed` and `--example infer_speed`
print for burn.
"""

import argparse
import time

import torch
from torch import nn


def stage(cin, cout):
    return [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
    ]


def lesion_net(width=32, stages=4, stem=2, dropout=0.3, classes=7):
    """The same layers as `src/model/net.rs` with the shipped configuration."""
    layers = []
    channels = 3
    if stem > 1:
        layers += [nn.Conv2d(3, width, stem, stride=stem, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        channels = width
    for s in range(stages):
        out = width << s
        layers += stage(channels, out)
        channels = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(dropout), nn.Linear(channels, classes)]
    return nn.Sequential(*layers)


def train_rate(net, optim, loss_fn, x, y, steps, warmup):
    """Images per second over `steps` training steps on one batch, after `warmup` untimed ones."""
    for step in range(steps + warmup):
        if step == warmup:
            start = time.perf_counter()
        optim.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        optim.step()
        loss.item()
    return steps * x.shape[0] / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--input", type=int, default=64)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=30)
    args = parser.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(args.threads)

    net = lesion_net(width=args.width)
    params = sum(p.numel() for p in net.parameters())
    optim = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    weights = torch.tensor([2.0, 1.5, 1.0, 3.0, 1.0, 0.4, 3.0])
    loss_fn = nn.CrossEntropyLoss(weight=weights, label_smoothing=0.05)
    x = torch.randn(args.batch, 3, args.input, args.input)
    y = torch.arange(args.batch) % 7

    net.train()
    train = train_rate(net, optim, loss_fn, x, y, args.steps, warmup=3)

    torch.set_num_threads(1)
    net.eval()
    views = torch.randn(8, 3, args.input, args.input)
    times = []
    with torch.no_grad():
        for _ in range(40):
            t = time.perf_counter()
            net(views).softmax(1)
            times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    infer = times[len(times) // 2]
    print(f"pytorch {torch.__version__}: {params} params, {args.threads} threads, batch {args.batch}, input {args.input}")
    print(f"train {train:.0f} img/s")
    print(f"infer {infer:.2f} ms (8 views, 1 thread)")


if __name__ == "__main__":
    main()
