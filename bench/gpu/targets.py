#!/usr/bin/env python3
"""The CUDA issue's whole-model targets, from one check.sh run: our figures (model_lab.log) beside
PyTorch's on the same card (torch_ref.log) and the reference figures (H100, PERFORMANCE.md), as one
markdown table with the same-card ratio of each. Optional tool (check.sh calls it when python3 is
there); it reads logs only.

    python3 bench/gpu/targets.py MODEL_LAB_LOG [TORCH_REF_LOG]
    python3 bench/gpu/targets.py --self-test
"""
import re
import sys

NUM = r"([0-9]+(?:\.[0-9]+)?)"

# (name, log, line pattern, group) -> a float, or None when the line is absent.
OURS = {
    "vit_ms": r"^\| CLIP ViT-L/14 \| bf16 \+ bf16 attention \| 64 \| " + NUM,
    "decode_tok_s": r"^\| greedy decode \| " + NUM + " tokens/s",
    "decode_bound": r"^\| fraction of the bound \| " + NUM,
    "step_ms": r"^\| the same, bf16 attention \(autocast\) \| " + NUM,
    "step_ms_kn_off": r"^\| the same, dY W products on mma\.sync[^|]*\| " + NUM,
}
TORCH = {
    "vit_ms": r"^\| CLIP ViT-L/14 eager bf16, batch 64 \| " + NUM + " ms",
    "decode_tok_s": r"^\| LLaMA-2-7B shape bf16, HF generate[^|]*\| " + NUM + " tokens/s",
    "step_ms": r"^\| frozen-7B step[^|]*\| " + NUM + " ms",
}


def scan(text, patterns):
    found = {}
    for key, pat in patterns.items():
        m = re.search(pat, text, re.MULTILINE)
        found[key] = float(m.group(1)) if m else None
    return found


def fmt(v, unit=""):
    return "-" if v is None else f"{v:g}{unit}"


def table(ours, torch):
    rows = ["| target | reference (H100) | PyTorch, same card | ours | ours / PyTorch, same card | met (same card) |",
            "|---|---|---|---|---|---|"]

    def add(name, ref, t, o, higher_is_better, unit, need=1.0):
        ratio = None
        if t and o:
            ratio = o / t if higher_is_better else t / o
        met = "-" if ratio is None else ("yes" if ratio >= need else "no")
        rows.append(f"| {name} | {ref} | {fmt(t, unit)} | {fmt(o, unit)} | {fmt(None if ratio is None else round(ratio, 3))} | {met} |")

    vit_t = 64e3 / torch["vit_ms"] if torch["vit_ms"] else None
    vit_o = 64e3 / ours["vit_ms"] if ours["vit_ms"] else None
    add("ViT-L/14 bf16 batch 64 >= PyTorch eager (images/s)", "2161", vit_t and round(vit_t),
        vit_o and round(vit_o), True, "")
    add("7B decode >= 10x HF generate (tokens/s)", "12.1", torch["decode_tok_s"], ours["decode_tok_s"], True, "", 10.0)
    add("frozen-7B step faster than PyTorch (ms)", "87.7", torch["step_ms"], ours["step_ms"], False, "")
    rows.append(f"| 7B decode >= 0.6 of the HBM bound | - | - | {fmt(ours['decode_bound'])} | - | "
                f"{'-' if ours['decode_bound'] is None else ('yes' if ours['decode_bound'] >= 0.6 else 'no')} |")
    if ours["step_ms_kn_off"] is not None and ours["step_ms"] is not None:
        rows.append(f"| (frozen step with dY W on mma.sync, before/after) | - | - | "
                    f"{fmt(ours['step_ms_kn_off'])} -> {fmt(ours['step_ms'])} | - | - |")
    return "\n".join(rows)


SAMPLE_OURS = """
| CLIP ViT-L/14 | bf16 + bf16 attention | 64 | 56.40 | 1135 | 2161 images/s |
| CLIP ViT-L/14 | bf16 + bf16 attention | 1 | 4.73 | 211 | 11.4 ms |
| greedy decode | 148.1 tokens/s (6.75 ms/token) |
| fraction of the bound | 0.46 |
| the same, bf16 attention (autocast) | 90.8 | 20.8 GiB | 87.7 ms, 16 GiB |
| the same, dY W products on mma.sync (B [K,N] wgmma off) | 95.0 | 20.8 GiB | 87.7 ms, 16 GiB |
"""
SAMPLE_TORCH = """
| CLIP ViT-L/14 eager bf16, batch 64 | 27.18 ms, 2354 images/s |
| LLaMA-2-7B shape bf16, HF generate batch 1 (greedy) | 37.0 tokens/s (27.03 ms/token) |
| frozen-7B step, batch 16 x 48 tokens, fwd+bwd into the projection + AdamW | 80.9 ms, peak 15.9 GiB allocated (torch) |
"""


def self_test():
    ours, torch = scan(SAMPLE_OURS, OURS), scan(SAMPLE_TORCH, TORCH)
    assert ours == {"vit_ms": 56.40, "decode_tok_s": 148.1, "decode_bound": 0.46, "step_ms": 90.8,
                    "step_ms_kn_off": 95.0}, ours
    assert torch == {"vit_ms": 27.18, "decode_tok_s": 37.0, "step_ms": 80.9}, torch
    out = table(ours, torch)
    assert "| ViT-L/14 bf16 batch 64 >= PyTorch eager (images/s) | 2161 | 2355 | 1135 | 0.482 | no |" in out, out
    assert "| 7B decode >= 10x HF generate (tokens/s) | 12.1 | 37 | 148.1 | 4.003 | no |" in out, out
    assert "| frozen-7B step faster than PyTorch (ms) | 87.7 | 80.9 | 90.8 | 0.891 | no |" in out, out
    assert "| 7B decode >= 0.6 of the HBM bound | - | - | 0.46 | - | no |" in out, out
    missing = table(scan("", OURS), scan("", TORCH))  # absent lines give dashes, not errors
    assert "| frozen-7B step faster than PyTorch (ms) | 87.7 | - | - | - | - |" in missing, missing
    print("targets.py self-test: ok")


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    if len(argv) < 2:
        print(__doc__)
        return 2
    read = lambda p: open(p, encoding="utf-8", errors="replace").read()
    try:  # no PyTorch on the machine (or its stage not run): our figures alone
        torch_text = read(argv[2]) if len(argv) > 2 else ""
    except OSError:
        torch_text = ""
    print(table(scan(read(argv[1]), OURS), scan(torch_text, TORCH)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
