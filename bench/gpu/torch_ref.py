#!/usr/bin/env python3
"""PyTorch's figures on the card we are measured on (optional tool; needs torch and transformers).

The issue's targets are ratios to PyTorch 2.11 + transformers 5.17 on an H100 (the reference
table). A lent card may be another kind (an H200 has the H100's arithmetic but 1.4x its memory
bandwidth), so check.sh runs this beside our labs: every ratio can then be taken on one card.
The shapes and the ways of counting are the labs' own:
  - SDPA (flash) attention, bf16: forward counted as 4 B H Tq Tk D flops (halved when causal),
    the backward as 2.5x the forward (attention_lab);
  - CLIP ViT-L/14 forward, bf16, random weights, batch 64 and 1 (model_lab);
  - LLaMA-2-7B shape, bf16, greedy `generate` at batch 1: tokens/s from the difference of
    66 and 2 new tokens, so prefill and set-up cancel (model_lab's decode_tokens_per_second);
  - the frozen-7B step: batch 16, 4 projected visual + 44 caption tokens, forward and backward
    through the frozen decoder into a trainable input projection, AdamW on it (model_lab);
  - a device copy and an 8192^3 bf16 matmul (the two ceilings).
Times: CUDA events, median after warm-up.  Prints a markdown table.
    python3 bench/gpu/torch_ref.py [--tiny]     (--tiny: small shapes on the CPU, a smoke test)
"""
import argparse
import statistics
import sys
import time

import torch


def median_ms(fn, reps, warmup=2, device="cuda"):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        if device == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            torch.cuda.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t0 = time.perf_counter()
            fn()
            times.append(1e3 * (time.perf_counter() - t0))
    return statistics.median(times)


def row(name, value):
    print(f"| {name} | {value} |", flush=True)


def copy_and_matmul(dev, tiny):
    n = (1 << 20) if tiny else (1 << 30)  # elements of f32: 4 GiB on the GPU
    a = torch.randn(n, device=dev)
    b = torch.empty_like(a)
    ms = median_ms(lambda: b.copy_(a), 6, device=dev)
    row("device copy (read + write)", f"{2 * 4 * n / ms / 1e9:.2f} TB/s")
    del a, b
    s = 256 if tiny else 8192
    x = torch.randn(s, s, device=dev, dtype=torch.bfloat16)
    y = torch.randn(s, s, device=dev, dtype=torch.bfloat16)
    ms = median_ms(lambda: x @ y.T, 10, device=dev)
    row(f"bf16 matmul {s}^3 (random data)", f"{2 * s**3 / ms / 1e9:.1f} TFLOP/s")


def sdpa(dev, tiny):
    import torch.nn.functional as F
    shapes = [("ViT B64 H16 T257 D64", 64, 16, 257, 64, False), ("causal B1 H32 T4096 D128", 1, 32, 4096, 128, True)]
    if tiny:
        shapes = [("tiny B2 H2 T33 D16", 2, 2, 33, 16, False), ("tiny causal B1 H2 T64 D16", 1, 2, 64, 16, True)]
    for name, B, H, T, D, causal in shapes:
        q, k, v = (torch.randn(B, H, T, D, device=dev, dtype=torch.bfloat16, requires_grad=True) for _ in range(3))
        g = torch.randn(B, H, T, D, device=dev, dtype=torch.bfloat16)
        flops = 4.0 * B * H * T * T * D * (0.5 if causal else 1.0)
        ctx = torch.nn.attention.sdpa_kernel(torch.nn.attention.SDPBackend.FLASH_ATTENTION) if dev == "cuda" else _null()
        with ctx:
            fwd = median_ms(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=causal), 10, device=dev)

            def both():
                o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
                torch.autograd.grad(o, (q, k, v), g)

            all_ms = median_ms(both, 10, device=dev)
        row(f"SDPA flash bf16, {name}: fwd / fwd+bwd",
            f"{flops / fwd / 1e9:.1f} / {3.5 * flops / all_ms / 1e9:.1f} TFLOP/s ({fwd:.3f} / {all_ms:.3f} ms)")


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def vit(dev, tiny):
    from transformers import CLIPVisionConfig, CLIPVisionModel
    if tiny:
        cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                               patch_size=14, image_size=56)
    else:
        cfg = CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                               patch_size=14, image_size=224, projection_dim=768)
    cfg._attn_implementation = "sdpa"
    with torch.device(dev):
        m = CLIPVisionModel(cfg).to(torch.bfloat16).eval()
    for b in (64, 1):
        px = torch.randn(b, 3, cfg.image_size, cfg.image_size, device=dev, dtype=torch.bfloat16)
        with torch.inference_mode():
            ms = median_ms(lambda: m(pixel_values=px).pooler_output, 10, warmup=3, device=dev)
        row(f"CLIP ViT-L/14 eager bf16, batch {b}", f"{ms:.2f} ms, {1e3 * b / ms:.0f} images/s")
    del m


def llama(dev, tiny):
    from transformers import LlamaConfig, LlamaForCausalLM
    if tiny:
        cfg = LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=4)
    else:
        cfg = LlamaConfig()  # LLaMA-2-7B's shape (the defaults)
    cfg._attn_implementation = "sdpa"
    torch.set_default_dtype(torch.bfloat16)
    with torch.device(dev):
        m = LlamaForCausalLM(cfg).eval()
    torch.set_default_dtype(torch.float32)
    m.requires_grad_(False)
    ids = torch.tensor([[1, 450, 4996, 17354, 1701, 432, 17204, 975]], device=dev) % cfg.vocab_size

    # Prefill: one forward of 512 tokens at batch 1.
    p = torch.randint(3, cfg.vocab_size, (1, 32 if tiny else 512), device=dev)
    with torch.inference_mode():
        ms = median_ms(lambda: m(input_ids=p, use_cache=False).logits, 5, device=dev)
    row(f"LLaMA-2-7B shape bf16, prefill {p.shape[1]} tokens, batch 1", f"{ms:.1f} ms")

    def gen(n):
        return m.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=n, min_new_tokens=n,
                          do_sample=False, pad_token_id=0)

    n = 8 if tiny else 64
    with torch.inference_mode():
        gen(4)
        per = []
        for _ in range(3):
            long = median_ms(lambda: gen(n + 2), 1, warmup=0, device=dev)
            short = median_ms(lambda: gen(2), 1, warmup=0, device=dev)
            per.append((long - short) / n)
    ms_tok = statistics.median(per)
    row("LLaMA-2-7B shape bf16, HF generate batch 1 (greedy)", f"{1e3 / ms_tok:.1f} tokens/s ({ms_tok:.2f} ms/token)")

    # The frozen-decoder step: [B, 4, Cv] features -> trainable Linear -> 4 visual embeddings, then
    # 44 caption token embeddings; the caption loss over the caption tokens; AdamW on the projection.
    B, V, L, Cv = (2, 4, 8, 16) if tiny else (16, 4, 44, 1024)
    proj = torch.nn.Linear(Cv, cfg.hidden_size, device=dev, dtype=torch.bfloat16)
    opt = torch.optim.AdamW(proj.parameters(), lr=2e-5)
    feats = torch.randn(B, V, Cv, device=dev, dtype=torch.bfloat16)
    words = torch.randint(3, cfg.vocab_size, (B, L), device=dev)
    labels = torch.cat([torch.full((B, V), -100, device=dev, dtype=torch.long), words], dim=1)
    emb = m.get_input_embeddings()
    losses = []

    def step():
        opt.zero_grad(set_to_none=True)
        x = torch.cat([proj(feats), emb(words)], dim=1)  # [B, V + L, C]
        loss = m(inputs_embeds=x, labels=labels).loss
        loss.backward()
        opt.step()
        losses.append(loss.detach())

    torch.cuda.reset_peak_memory_stats() if dev == "cuda" else None
    ms = median_ms(step, 5, device=dev)
    peak = torch.cuda.max_memory_allocated() / 2**30 if dev == "cuda" else 0.0
    if not all(torch.isfinite(l).item() for l in losses):
        print("torch_ref: a non-finite loss in the frozen-7B step", file=sys.stderr)
        raise SystemExit(1)
    row(f"frozen-7B step, batch {B} x {V + L} tokens, fwd+bwd into the projection + AdamW",
        f"{ms:.1f} ms, peak {peak:.1f} GiB allocated (torch)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tiny", action="store_true", help="small shapes on the CPU (a smoke test of this script)")
    args = ap.parse_args()
    dev = "cpu" if args.tiny else "cuda"
    if dev == "cuda" and not torch.cuda.is_available():
        print("torch_ref: no CUDA device")
        return 1
    import transformers
    name = torch.cuda.get_device_name() if dev == "cuda" else "cpu"
    print(f"\n| PyTorch {torch.__version__}, transformers {transformers.__version__}, {name} | value |\n|---|---|",
          flush=True)
    torch.manual_seed(0)
    status = 0
    for part in (copy_and_matmul, sdpa, vit, llama):
        try:
            part(dev, args.tiny)
        except Exception as e:  # one part's failure must not hide the others' figures
            print(f"| {part.__name__} | failed: {type(e).__name__}: {e} |", flush=True)
            status = 1
        if dev == "cuda":
            torch.cuda.empty_cache()
    return status


if __name__ == "__main__":
    sys.exit(main())
