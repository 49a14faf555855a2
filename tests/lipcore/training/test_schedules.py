"""Each schedule's lr sequence equals torch's own scheduler's (an independent implementation)."""
import pytest
import torch

from lipcore.training.optim import SCHEDULES


def torch_lrs(make, total, lr=0.1):
    opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    sched = make(opt)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return out


@pytest.mark.parametrize("name,params,make", [
    ("step", {"step_size": 7, "gamma": 0.5},
     lambda o: torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5)),
    ("cosine", {}, lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=50)),
    ("one_cycle", {}, lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=50)),
    ("one_cycle", {"pct_start": 0.5, "div_factor": 10, "final_div_factor": 100},
     lambda o: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=50, pct_start=0.5,
                                                   div_factor=10, final_div_factor=100)),
])
def test_schedule_matches_torch(name, params, make):
    ours = [0.1 * SCHEDULES[name](s, 50, **params) for s in range(50)]
    assert ours == pytest.approx(torch_lrs(make, 50), rel=1e-6, abs=1e-12)
