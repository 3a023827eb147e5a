"""interop/pytorch/check.py: the equivalence check the test suite runs (test/interop.test.ts).

  python3 check.py forward MODEL.safetensors INPUTS.safetensors OUT.safetensors   D(x; σ) for the given x, σ
  python3 check.py roundtrip MODEL.safetensors OUT.safetensors                     load, perturb weights, save back
  python3 check.py grad MODEL.safetensors INPUTS.safetensors OUT.safetensors      D and ∂Σ(D·r)/∂(params, x)
  python3 check.py time MODEL.safetensors BATCH REPS [cpu|cuda]                    ms per forward+backward (CPU: 2 threads)
  python3 check.py half VALUES.safetensors      every F16 tensor NAME_f16 holds the bits of torch's NAME_f32.half()
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
    dev = torch.device(sys.argv[5] if len(sys.argv) > 5 else "cpu")
    if dev.type == "cuda" and not torch.cuda.is_available():
        sys.exit("check.py time: cuda asked for, but this torch sees no CUDA device")
    den = den.to(dev)
    cfg = info["netConfig"]
    shape = (batch, cfg["inChannels"], cfg["resolution"], cfg["resolution"])
    torch.set_num_threads(2)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times = []
    with torch.enable_grad():
        for i in range(reps + 2):
            x, sigma = torch.randn(shape, device=dev), torch.exp(torch.randn(batch, device=dev))
            labels = torch.eye(cfg["labelDim"], device=dev)[torch.randint(cfg["labelDim"], (batch,), device=dev)] if cfg["labelDim"] else None
            sync()
            t0 = time.perf_counter()
            den(x, sigma, labels).square().mean().backward()
            sync()
            if i >= 2:
                times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    where = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f'{{"ms_median": {times[len(times) // 2]:.2f}, "ms_min": {times[0]:.2f}, "threads": 2, "batch": {batch}, "device": "{where}"}}')
elif cmd == "roundtrip":
    den, info = load_model(sys.argv[2])
    g = torch.Generator().manual_seed(0)
    for p in den.parameters():
        p.add_(0.05 * torch.randn(p.shape, generator=g))
    info = dict(info, recipe={"edited": "interop/pytorch/check.py roundtrip"})
    save_model(sys.argv[3], den, info)
elif cmd == "half":
    tensors, _ = load_safetensors(sys.argv[2])
    halves = [n for n in tensors if n.endswith("_f16")]
    if not halves:
        raise SystemExit("half: no NAME_f16 tensors in the file")
    for name in halves:
        ours, src = tensors[name], tensors[name[:-4] + "_f32"]
        if ours.dtype != torch.float16:
            raise SystemExit(f"half: {name} is {ours.dtype}, expected torch.float16")
        want = src.half()
        # bitwise, except that any NaN matches any NaN
        bad = (ours.view(torch.int16) != want.view(torch.int16)) & ~(ours.isnan() & want.isnan())
        if bad.any():
            i = int(bad.nonzero()[0])
            raise SystemExit(f"half: {name}: {int(bad.sum())} of {ours.numel()} differ from torch's .half(); first at {i}: "
                             f"x {src.flatten()[i].item()!r} gave {ours.flatten()[i].item()!r}, torch {want.flatten()[i].item()!r}")
    print(f'{{"checked": {len(halves)}}}')
else:
    raise SystemExit(f"unknown command {cmd}")
