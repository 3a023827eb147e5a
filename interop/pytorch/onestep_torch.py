"""interop/pytorch/onestep_torch.py: a PyTorch mirror of onestep's models with identical parameter names, so a model
trained in the browser or Node can be trained further or sampled in PyTorch (and its distributed tooling), and back.

Mirrors: MLPScoreNet (models/mlp.ts), UNet (models/unet.ts), EDMDenoiser (models/edm.ts), the Heun sampler (models/samplers.ts), and the
safetensors files onestep writes (a small reader/writer here, so the `safetensors` package is not required).
"""
import json
import math
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F

# ---- safetensors (the subset onestep writes: F32 tensors, a __metadata__ of strings) --------------------------------

_DTYPES = {"F32": (torch.float32, 4), "F64": (torch.float64, 8), "F16": (torch.float16, 2), "BF16": (torch.bfloat16, 2),
           "I64": (torch.int64, 8), "I32": (torch.int32, 4), "U8": (torch.uint8, 1)}


def load_safetensors(path):
    """Returns ({name: tensor}, metadata). Validates offsets against the file size."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError(f"{path}: too short for safetensors")
    (n,) = struct.unpack("<Q", data[:8])
    if n > len(data) - 8:
        raise ValueError(f"{path}: header length {n} runs past the end of the file")
    header = json.loads(data[8:8 + n])
    meta = header.pop("__metadata__", None) or {}
    base = 8 + n
    out = {}
    for name, info in header.items():
        dtype, size = _DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        if not (0 <= begin <= end <= len(data) - base):
            raise ValueError(f"{path}: tensor {name} offsets {begin}..{end} outside the data")
        buf = bytearray(data[base + begin:base + end])
        t = torch.frombuffer(buf, dtype=dtype) if end > begin else torch.empty(0, dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out, meta


def save_safetensors(path, tensors, metadata=None):
    """Writes F32 safetensors in the layout the Rust implementation uses (sorted by name within one dtype)."""
    names = sorted(tensors)
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = {k: str(v) for k, v in metadata.items()}
    for name in names:
        t = tensors[name].detach().to(torch.float32).contiguous().cpu()
        b = t.numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


# ---- models -----------------------------------------------------------------------------------------------------------

class MLPScoreNet(nn.Module):
    """models/mlp.ts: [c_in·x, c_noise, sin/cos(2^k c_noise)] (+ one-hot class) → Linear → SiLU, residual SiLU blocks,
    zero-initialised output. Parameter names: input.*, blocks.{i}.*, output.*"""

    def __init__(self, dim=2, hidden=128, depth=3, freqs=6, labelDim=0):
        super().__init__()
        self.dim, self.freqs, self.labelDim = dim, freqs, labelDim
        self.input = nn.Linear(dim + 1 + 2 * freqs + labelDim, hidden)
        self.blocks = nn.ModuleList([nn.Linear(hidden, hidden) for _ in range(depth - 1)])
        self.output = nn.Linear(hidden, dim)
        nn.init.zeros_(self.output.weight)
        nn.init.zeros_(self.output.bias)

    def embed(self, c_noise):
        c = c_noise.reshape(-1, 1)
        f = 2.0 ** torch.arange(self.freqs, dtype=c.dtype, device=c.device)
        return torch.cat([c, torch.sin(c * f), torch.cos(c * f)], 1)

    def forward(self, x_in, c_noise, labels=None):
        parts = [x_in, self.embed(c_noise)]
        if self.labelDim > 0:
            parts.append(labels if labels is not None else x_in.new_zeros(x_in.shape[0], self.labelDim))
        h = F.silu(self.input(torch.cat(parts, 1)))
        for b in self.blocks:
            h = h + F.silu(b(h))
        return self.output(h)


def _groups(c):
    return max(1, min(32, c // 4))


class SelfAttention2d(nn.Module):
    """engine/nn/attention.ts MultiheadSelfAttention2d: x + proj(attention(qkv(GN(x)))), EDM's interleaved q/k/v."""

    def __init__(self, channels, num_heads):
        super().__init__()
        self.heads = num_heads
        self.norm = nn.GroupNorm(_groups(channels), channels, eps=1e-5)
        self.qkv = nn.Conv2d(channels, 3 * channels, 1)
        self.proj = nn.Conv2d(channels, channels, 1)

    def forward(self, x):
        n, c, h, w = x.shape
        qkv = self.qkv(self.norm(x)).reshape(n * self.heads, c // self.heads, 3, h * w)
        q, k, v = qkv.unbind(2)
        att = torch.softmax(torch.einsum("ncq,nck->nqk", q, k / math.sqrt(q.shape[1])), dim=2)
        a = torch.einsum("nqk,nck->ncq", att, v)
        return x + self.proj(a.reshape(n, c, h, w))


class UNetBlock(nn.Module):
    """models/unet.ts UNetBlock: conv0(resample(silu(GN0 x))); silu(shift + GN1(h)(scale+1)); conv1; + skip; attention."""

    def __init__(self, cin, cout, emb, how, attention, channels_per_head, dropout):
        super().__init__()
        self.how, self.cout, self.dropout = how, cout, dropout
        self.norm0 = nn.GroupNorm(_groups(cin), cin, eps=1e-5)
        self.conv0 = nn.Conv2d(cin, cout, 3, padding=1)
        self.affine = nn.Linear(emb, 2 * cout)
        self.norm1 = nn.GroupNorm(_groups(cout), cout, eps=1e-5, affine=False)
        self.conv1 = nn.Conv2d(cout, cout, 3, padding=1)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else None
        self.attn = SelfAttention2d(cout, max(1, cout // channels_per_head)) if attention else None

    def resample(self, x):
        if self.how == "down":
            return F.avg_pool2d(x, 2)
        if self.how == "up":
            return F.interpolate(x, scale_factor=2, mode="nearest")
        return x

    def forward(self, x, emb):
        h = self.conv0(self.resample(F.silu(self.norm0(x))))
        scale, shift = self.affine(emb).unsqueeze(2).unsqueeze(3).chunk(2, dim=1)
        h = F.silu(torch.addcmul(shift, self.norm1(h), scale + 1))
        h = self.conv1(F.dropout(h, p=self.dropout, training=self.training))
        s = self.resample(x)
        h = h + (self.skip(s) if self.skip is not None else s)
        return self.attn(h) if self.attn is not None else h


class UNet(nn.Module):
    """models/unet.ts UNet (EDM DhariwalUNet at toy size). Parameter names: mapNoise0/1, mapLabel, convIn, enc.{i},
    mid.{0,1}, dec.{i}, normOut, convOut."""

    def __init__(self, resolution=16, inChannels=1, outChannels=1, labelDim=10, modelChannels=32, channelMult=(1, 2),
                 numBlocks=1, attnResolutions=(8,), channelsPerHead=32, dropout=0.0, embMult=4):
        super().__init__()
        mc, emb, cph = modelChannels, modelChannels * embMult, channelsPerHead
        self.labelDim, self.mc = labelDim, mc
        self.mapNoise0 = nn.Linear(mc, emb)
        self.mapNoise1 = nn.Linear(emb, emb)
        self.mapLabel = nn.Linear(labelDim, emb, bias=False) if labelDim > 0 else None
        self.convIn = nn.Conv2d(inChannels, mc * channelMult[0], 3, padding=1)
        enc, skips = [], [mc * channelMult[0]]
        ch, res = skips[0], resolution
        for level, mult in enumerate(channelMult):
            if level > 0:
                res //= 2
                enc.append(UNetBlock(ch, ch, emb, "down", False, cph, dropout))
                skips.append(ch)
            for _ in range(numBlocks):
                enc.append(UNetBlock(ch, mc * mult, emb, "none", res in attnResolutions, cph, dropout))
                ch = mc * mult
                skips.append(ch)
        self.enc = nn.ModuleList(enc)
        self.mid = nn.ModuleList([UNetBlock(ch, ch, emb, "none", True, cph, dropout), UNetBlock(ch, ch, emb, "none", False, cph, dropout)])
        dec, self.takes_skip = [], []
        for level in reversed(range(len(channelMult))):
            if level < len(channelMult) - 1:
                res *= 2
                dec.append(UNetBlock(ch, ch, emb, "up", False, cph, dropout))
                self.takes_skip.append(False)
            for _ in range(numBlocks + 1):
                cin = ch + skips.pop()
                ch = mc * channelMult[level]
                dec.append(UNetBlock(cin, ch, emb, "none", res in attnResolutions, cph, dropout))
                self.takes_skip.append(True)
        self.dec = nn.ModuleList(dec)
        self.normOut = nn.GroupNorm(_groups(ch), ch, eps=1e-5)
        self.convOut = nn.Conv2d(ch, outChannels, 3, padding=1)

    def embed(self, c_noise, labels):
        half = self.mc // 2
        f = (1e-4 ** (torch.arange(half, dtype=c_noise.dtype) / half)).to(c_noise.device)
        a = c_noise.reshape(-1, 1) * f
        e = self.mapNoise1(F.silu(self.mapNoise0(torch.cat([a.cos(), a.sin()], 1))))
        if self.mapLabel is not None:
            e = e + self.mapLabel(labels if labels is not None else e.new_zeros(e.shape[0], self.labelDim))
        return F.silu(e)

    def forward(self, x_in, c_noise, labels=None):
        emb = self.embed(c_noise, labels)
        x = self.convIn(x_in)
        skips = [x]
        for b in self.enc:
            x = b(x, emb)
            skips.append(x)
        for b in self.mid:
            x = b(x, emb)
        for b, takes in zip(self.dec, self.takes_skip):
            x = b(torch.cat([x, skips.pop()], 1) if takes else x, emb)
        return self.convOut(F.silu(self.normOut(x)))


class EDMDenoiser(nn.Module):
    """models/edm.ts: D(x; σ, y) = c_skip·x + c_out·F(c_in·x; ln(σ)/4, y). State-dict keys: net.*"""

    def __init__(self, net, sigmaData=0.5):
        super().__init__()
        self.net, self.sigmaData = net, sigmaData

    def forward(self, x, sigma, labels=None):
        s = sigma.reshape(-1, *([1] * (x.dim() - 1)))
        sd = self.sigmaData
        c_skip = sd ** 2 / (s ** 2 + sd ** 2)
        c_out = s * sd / (s ** 2 + sd ** 2).sqrt()
        c_in = 1 / (s ** 2 + sd ** 2).sqrt()
        return c_skip * x + c_out * self.net(x * c_in, sigma.log() / 4, labels)


def edm_sigmas(steps, sigma_min=0.002, sigma_max=80.0, rho=7.0):
    i = torch.arange(steps, dtype=torch.float64)
    t = (sigma_max ** (1 / rho) + i / max(steps - 1, 1) * (sigma_min ** (1 / rho) - sigma_max ** (1 / rho))) ** rho
    return torch.cat([t, torch.zeros(1, dtype=torch.float64)])


@torch.no_grad()
def heun_sample(den, z, steps=18, labels=None):
    """models/samplers.ts heunSample on given unit noise z: 2·steps − 1 evaluations."""
    t = edm_sigmas(steps).tolist()
    x = z * t[0]
    full = lambda v: torch.full((x.shape[0],), v, dtype=x.dtype)
    for i in range(steps):
        d = (x - den(x, full(t[i]), labels)) / t[i]
        xe = x + (t[i + 1] - t[i]) * d
        if t[i + 1] == 0:
            x = xe
        else:
            d2 = (xe - den(xe, full(t[i + 1]), labels)) / t[i + 1]
            x = x + (t[i + 1] - t[i]) * 0.5 * (d + d2)
    return x


def load_model(path):
    """Rebuilds the model an onestep file describes (its __metadata__.onestep) and loads its weights strictly."""
    tensors, meta = load_safetensors(path)
    info = json.loads(meta["onestep"])
    nets = {"mlp": MLPScoreNet, "unet": UNet}
    if info["kind"] != "edm-denoiser" or info["net"] not in nets:
        raise ValueError(f"{path}: unsupported model {info['kind']}/{info['net']}")
    den = EDMDenoiser(nets[info["net"]](**info["netConfig"]), info["sigmaData"])
    den.load_state_dict(tensors, strict=True)
    return den, info


def save_model(path, den, info):
    save_safetensors(path, den.state_dict(), {"format": "pt", "onestep": json.dumps(info)})
