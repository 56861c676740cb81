#!/usr/bin/env python3
"""Golden values for Tests/TrainingTests/OptimizerTests.swift, computed with PyTorch and transformers.

- AdamW: `torch.optim.AdamW` (CPU, float32, foreach=False: the single-tensor path) on six float32
  parameters in two groups (weight decay 0.01 on the first four, 0 on the last two), five steps with
  fixed gradients (including a zero, a 1e-9 and a large value, so the placement of eps and the bias
  corrections matter) and a learning rate changed before every step; then the same with
  betas (0.8, 0.99), eps 1e-6, weight decay 0.1 on every value.
- Schedules: transformers' get_linear_schedule_with_warmup and get_cosine_schedule_with_warmup
  (3 warm-up steps, 10 total, peak 2e-4): the learning rate of optimizer steps 0..11.
- Clipping: torch.nn.utils.clip_grad_norm_ over two gradient tensors, max_norm 1.0 (clips) and 100 (does not).

Usage: ~/.cache/dlp/venvs/compressed-tensors-0.14/bin/python3 scripts/reference/adamw_reference.py
(torch 2.x, transformers 4.x; prints Swift literals to paste into the test).
"""
import torch
from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

torch.set_num_threads(1)

P0 = [0.5, -1.25, 2.0, 0.0, 3e-3, -0.75]
GRADS = [
    [0.1, -0.2, 0.0, 1e-9, 5.0, -0.03],
    [0.05, 0.3, -0.7, 2e-9, -4.0, 0.02],
    [-0.2, 0.1, 0.4, 0.0, 3.0, 0.01],
    [0.0, -0.05, 0.2, -1e-9, 0.5, -0.04],
    [0.3, 0.0, -0.1, 1e-8, -2.0, 0.05],
]
LRS = [1e-3, 2e-3, 5e-4, 1e-3, 3e-3]


def swift(name, values):
    print(f"    static let {name}: [[Float]] = [")
    for row in values:
        print("        [" + ", ".join(f"{v:.9g}" for v in row) + "],")
    print("    ]")


def adamw_two_groups():
    a = torch.tensor(P0[:4], dtype=torch.float32, requires_grad=True)
    b = torch.tensor(P0[4:], dtype=torch.float32, requires_grad=True)
    opt = torch.optim.AdamW([{"params": [a], "weight_decay": 0.01}, {"params": [b], "weight_decay": 0.0}],
                            lr=LRS[0], foreach=False)
    rows = []
    for g, lr in zip(GRADS, LRS):
        for group in opt.param_groups:
            group["lr"] = lr
        a.grad = torch.tensor(g[:4], dtype=torch.float32)
        b.grad = torch.tensor(g[4:], dtype=torch.float32)
        opt.step()
        rows.append(a.detach().tolist() + b.detach().tolist())
    return rows


def adamw_settings():
    p = torch.tensor(P0, dtype=torch.float32, requires_grad=True)
    opt = torch.optim.AdamW([p], lr=LRS[0], betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1, foreach=False)
    rows = []
    for g, lr in zip(GRADS, LRS):
        opt.param_groups[0]["lr"] = lr
        p.grad = torch.tensor(g, dtype=torch.float32)
        opt.step()
        rows.append(p.detach().tolist())
    return rows


def schedule(make):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.AdamW([p], lr=2e-4)
    sched = make(opt, num_warmup_steps=3, num_training_steps=10)
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def clipping(max_norm):
    x = torch.zeros(3, requires_grad=True)
    y = torch.zeros(2, requires_grad=True)
    x.grad = torch.tensor([0.3, -1.2, 0.5], dtype=torch.float32)
    y.grad = torch.tensor([2.0, -0.25], dtype=torch.float32)
    total = torch.nn.utils.clip_grad_norm_([x, y], max_norm)
    return float(total), x.grad.tolist() + y.grad.tolist()


if __name__ == "__main__":
    print(f"// torch {torch.__version__}")
    swift("adamwTwoGroups", adamw_two_groups())
    swift("adamwSettings", adamw_settings())
    print("    static let linearSchedule: [Double] = [" + ", ".join(f"{v:.17g}" for v in schedule(get_linear_schedule_with_warmup)) + "]")
    print("    static let cosineSchedule: [Double] = [" + ", ".join(f"{v:.17g}" for v in schedule(get_cosine_schedule_with_warmup)) + "]")
    for max_norm in (1.0, 100.0):
        total, grads = clipping(max_norm)
        print(f"    // max_norm {max_norm}: total norm {total:.9g}")
        print("    [" + ", ".join(f"{v:.9g}" for v in grads) + "]")
