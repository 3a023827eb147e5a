"""interop/pytorch/check.py: the equivalence check the test suite runs (test/interop.test.ts).

  python3 check.py forward MODEL.safetensors INPUTS.safetensors OUT.safetensors   D(x; σ) for the given x, σ
  python3 check.py roundtrip MODEL.safetensors OUT.safetensors                     load, perturb weights, save back
  python3 check.py grad MODEL.safetensors INPUTS.safetensors OUT.safetensors      D and ∂Σ(D·r)/∂(params, x)
  python3 check.py time MODEL.safetensors BATCH REPS                               ms per forward+backward (CPU)
"""
import time
import sys

import torch

from onestep_torch import load_model, load_safetensors, save_model, save_safetensors

torch.set_grad_enabled(False)
cmd = sys.argv[1]
if cmd == "forward":
    den, _ = load_model(sys.argv[2])
    inputs, _ = load_safetensors(sys.argv[3])
    out = den(inputs["x"].double().float(), inputs["sigma"], inputs.get("labels"))
    save_safetensors(sys.argv[4], {"d": out})
elif cmd == "grad":
    den, _ = load_model(sys.argv[2])
    inputs, _ = load_safetensors(sys.argv[3])
    with torch.enable_grad():
        x = inputs["x"].clone().requires_grad_(True)
        out = den(x, inputs["sigma"], inputs.get("labels"))
        (out * inputs["r"]).sum().backward()
    grads = {"d": out.detach(), "grad.x": x.grad}
    grads.update({f"grad.{k}": p.grad if p.grad is not None else torch.zeros_like(p) for k, p in den.named_parameters()})
    save_safetensors(sys.argv[4], grads)
elif cmd == "time":
    den, info = load_model(sys.argv[2])
    batch, reps = int(sys.argv[3]), int(sys.argv[4])
    cfg = info["netConfig"]
    shape = (batch, cfg["inChannels"], cfg["resolution"], cfg["resolution"])
    torch.set_num_threads(2)
    times = []
    with torch.enable_grad():
        for i in range(reps + 2):
            x, sigma = torch.randn(shape), torch.exp(torch.randn(batch))
            labels = torch.eye(cfg["labelDim"])[torch.randint(cfg["labelDim"], (batch,))] if cfg["labelDim"] else None
            t0 = time.perf_counter()
            den(x, sigma, labels).square().mean().backward()
            if i >= 2:
                times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    print(f'{{"ms_median": {times[len(times) // 2]:.2f}, "ms_min": {times[0]:.2f}, "threads": 2, "batch": {batch}}}')
elif cmd == "roundtrip":
    den, info = load_model(sys.argv[2])
    g = torch.Generator().manual_seed(0)
    for p in den.parameters():
        p.add_(0.05 * torch.randn(p.shape, generator=g))
    info = dict(info, recipe={"edited": "interop/pytorch/check.py roundtrip"})
    save_model(sys.argv[3], den, info)
else:
    raise SystemExit(f"unknown command {cmd}")
