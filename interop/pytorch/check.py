"""interop/pytorch/check.py: the equivalence check the test suite runs (test/interop.test.ts).

  python3 check.py forward MODEL.safetensors INPUTS.safetensors OUT.safetensors   D(x; σ) for the given x, σ
  python3 check.py roundtrip MODEL.safetensors OUT.safetensors                     load, perturb weights, save back
"""
import sys

import torch

from onestep_torch import load_model, load_safetensors, save_model, save_safetensors

torch.set_grad_enabled(False)
cmd = sys.argv[1]
if cmd == "forward":
    den, _ = load_model(sys.argv[2])
    inputs, _ = load_safetensors(sys.argv[3])
    out = den(inputs["x"].double().float(), inputs["sigma"])
    save_safetensors(sys.argv[4], {"d": out})
elif cmd == "roundtrip":
    den, info = load_model(sys.argv[2])
    g = torch.Generator().manual_seed(0)
    for p in den.parameters():
        p.add_(0.05 * torch.randn(p.shape, generator=g))
    info = dict(info, recipe={"edited": "interop/pytorch/check.py roundtrip"})
    save_model(sys.argv[3], den, info)
else:
    raise SystemExit(f"unknown command {cmd}")
