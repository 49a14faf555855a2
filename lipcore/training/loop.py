"""The training loop: one `Engine` drives one model (or two in lockstep), nothing else listens.

Per step: callbacks read a frozen `TrainState` and flip `TrainControl` flags; the sampler
gives the next batch; each member takes an optimizer step (plus the flossing penalty every
`flossing.frequency` steps) or, in `blockwise_sequential` mode, a round of proximal block
updates. At each evaluation (every `training.eval_every` steps, default once per epoch, and
at the end) the metrics go to `reporter.log(values, step)`, stoppers are asked, and a
checkpoint is written when one is due. Numbers that blow up end the run as `diverged`
(`lipcore.training.guard`: screened on the device every step, read at each evaluation).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable

import torch
from torch import nn

from lipcore.data import Dataset
from lipcore.reporting import NullReporter
from lipcore.training import checkpoints
from lipcore.training.guard import NumericGuard
from lipcore.training.batches import BatchSampler
from lipcore.training.callbacks import build_callbacks
from lipcore.training.metrics import COMPARATIVE_METRICS, compute_metrics
from lipcore.training.losses import LOSSES, default_loss
from lipcore.training.members import DivergedError, Member, finite_metrics, n_correct
from lipcore.training.optim import OPTIMIZERS, lr_factor
from lipcore.training.state import TrainControl, TrainState
from lipcore.training.stoppers import build_stoppers

EVAL_CHUNK = 2048  # test examples per forward pass at evaluation


@dataclass
class TrainResult:
    status: str  # succeeded | diverged | cancelled
    steps: int
    final: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    stopped_by: str | None = None
    diverged: dict[str, Any] | None = None  # {"step", "quantity", "reason", "value"} when diverged


def pick_device(name: str) -> torch.device:
    """`training.device`: auto is cuda when visible, else cpu; an explicit cuda needs a GPU."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"training.device: {name!r} asked for, but no CUDA device is visible")
    return device


def make_member(model: nn.Module, data: Dataset, cfg: dict[str, Any], device: torch.device,
                prefix: str = "") -> Member:
    model.to(device)
    loss_fn = LOSSES.get(cfg["loss"] or default_loss(data.task), key="training.loss")()
    optimizer = OPTIMIZERS.get(cfg["optimizer"], key="training.optimizer")(model.parameters(), cfg)
    return Member(model, cfg, loss_fn, optimizer, NumericGuard(model, device, prefix), prefix)


@torch.no_grad()
def evaluate(model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: Callable,
             task: str) -> dict[str, float]:
    """Mean loss (and accuracy unless regression) on (x, y) in eval mode, in chunks."""
    was_training = model.training
    model.eval()
    total, correct = 0.0, 0.0
    for i in range(0, len(x), EVAL_CHUNK):
        out = model(x[i:i + EVAL_CHUNK])
        yi = y[i:i + EVAL_CHUNK]
        total += float(loss_fn(out, yi)) * len(yi)
        correct += float(n_correct(out, yi)) if task != "regression" else 0.0
    model.train(was_training)
    result = {"loss": total / len(x)}
    if task != "regression":
        result["acc"] = correct / len(x)
    return result


class Engine:
    """Runs members on one batch stream; see the module docstring for one step's anatomy."""

    def __init__(self, members: list[Member], data: Dataset, config: dict[str, Any],
                 reporter: Any = None, progress: Callable[[int, int], None] | None = None,
                 checkpoint_dir: str | Path | None = None, device: torch.device | None = None):
        self.members, self.data, self.config = members, data, config
        self.cfg = members[0].cfg
        self.floss = config.get("flossing") or {"enabled": False}
        self.reporter = reporter or NullReporter()
        self.progress, self.checkpoint_dir = progress, checkpoint_dir
        self.saved_step: int | None = None  # the step of the last checkpoint this engine wrote
        self.device = device or torch.device("cpu")
        self.data_dev = _to_device(data, self.device)
        self.sampler = BatchSampler(self.data_dev, self.cfg["batch_size"], self.cfg["batch_seed"],
                                    online=bool(config.get("data", {}).get("online")))
        self.control = TrainControl(batch_size=self.cfg["batch_size"])
        self.callbacks = build_callbacks(self.cfg["callbacks"])
        self.stoppers = build_stoppers(self.cfg["stoppers"])
        self.metric_names = list(self.cfg["metrics"])
        if self.floss.get("enabled") and "lyapunov" not in self.metric_names:
            self.metric_names.append("lyapunov")
        self.blockwise = self.cfg["mode"] == "blockwise_sequential"
        self.total = self._total_steps()
        every = self.cfg["checkpoint_every"] or max(1, self.total // 10)
        self.checkpoint_every = every
        self.step, self.next_checkpoint = 0, every
        #: without a checkpoint folder, (step, model state) at each checkpoint moment when
        #: the config has probes (they read trajectories)
        self.keep_snapshots = bool(config.get("probes"))
        self.snapshots: list[tuple[int, dict]] = []
        self.last: dict[str, float] = {}
        self.measured_at: int | None = None

    # --- sizes ---------------------------------------------------------------------------
    def _total_steps(self) -> int:
        spe = self.sampler.steps_per_epoch()
        if self.blockwise:
            from lipcore.training.blockwise import default_rounds

            return default_rounds(self.cfg, self.members[0].model, spe)
        total = self.cfg["epochs"] * spe
        if self.cfg["max_steps"] is not None:
            total = min(total, self.cfg["max_steps"]) if self.cfg["epochs"] else self.cfg["max_steps"]
        return total

    def _done(self) -> bool:
        """Blockwise: after the rounds. Otherwise after `epochs` epochs (however many steps a
        batch-size switch makes of them) or `max_steps` steps, whichever comes first; `total`
        is then only the schedule's and progress bar's estimate."""
        if self.blockwise:
            return self.step >= self.total
        max_steps = self.cfg["max_steps"]
        if max_steps is not None and self.step >= max_steps:
            return True
        if max_steps is not None and not self.cfg["epochs"]:
            return False
        return self.sampler.epoch >= self.cfg["epochs"]

    # --- one step ------------------------------------------------------------------------
    def _lr(self, member: Member) -> float:
        return member.cfg["lr"] * lr_factor(member.cfg, self.step, self.total) * self.control.lr_scale

    def _sgd_step(self, member: Member, x: torch.Tensor, y: torch.Tensor) -> None:
        lr = self._lr(member)
        for group in member.optimizer.param_groups:
            group["lr"] = lr
        if self.floss.get("enabled") and self.step % self.floss["frequency"] == 0:
            out, penalty = self._forward_and_floss_penalty(member.model, x)
            loss = member.loss_fn(out, y)
            objective = loss + self.floss["weight"] * penalty
        else:
            out = member.model(x)
            loss = objective = member.loss_fn(out, y)
        self._update(member, objective)
        member.loss_sum = member.loss_sum + loss.detach() * len(y)  # on the device: no sync
        if self.data.task != "regression":
            member.correct = member.correct + n_correct(out.detach(), y)
        member.count += len(y)

    def _update(self, member: Member, objective: torch.Tensor, clip: bool = True) -> None:
        """backward, the guard's screen (a non-finite step's gradients are zeroed), `grad_clip`
        when `clip`, optimizer step."""
        member.optimizer.zero_grad(set_to_none=True)
        objective.backward()
        member.guard.screen(self.step, objective)
        if clip and member.cfg["grad_clip"]:
            nn.utils.clip_grad_norm_(member.model.parameters(), member.cfg["grad_clip"])
        member.optimizer.step()

    def _forward_and_floss_penalty(self, model: nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(model(x), flossing penalty on the first `flossing.batch_size` rows), in one pass
        through the blocks where the model allows it (`lipcore.flossing.forward_and_flossing_loss`)."""
        from lipcore.flossing import forward_and_flossing_loss, step_generator

        n = self.floss.get("batch_size") or len(x)
        g = step_generator(self.floss, self.step)
        out, penalty, _ = forward_and_flossing_loss(model, x, n, self.floss["num_exponents"], g,
                                                    qr_every=self.floss.get("qr_every", 1))
        return out, penalty

    def _floss_penalty(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor:
        """The flossing penalty alone (pre-flossing): no training forward to share."""
        from lipcore.flossing import flossing_loss, step_generator

        n = self.floss.get("batch_size") or len(x)
        g = step_generator(self.floss, self.step)
        return flossing_loss(model, x[:n], self.floss["num_exponents"], g,
                             qr_every=self.floss.get("qr_every", 1))[0]

    def _pre_floss(self) -> None:
        """`flossing.pre_epochs` epochs of the flossing penalty alone, before training."""
        epochs = self.floss.get("pre_epochs", 0) if self.floss.get("enabled") else 0
        if not epochs:
            return
        sampler = BatchSampler(self.data_dev, self.cfg["batch_size"], self.cfg["batch_seed"] + 1,
                               online=self.sampler.online)
        for member in self.members:
            while sampler.epoch < epochs:
                x, _, _ = sampler.next()
                self._update(member, self._floss_penalty(member.model, x), clip=False)
            sampler.epoch = 0
            member.guard.raise_if_tripped()  # pre-flossing steps all count as step 0
        for member in self.members:  # pre-flossing must not leave optimizer moments behind
            member.optimizer.state.clear()

    # --- evaluation, logging, checkpoints ------------------------------------------------
    def _evaluate(self) -> dict[str, float]:
        d = self.data_dev
        values: dict[str, float] = {}
        for m in self.members:
            m.guard.raise_if_tripped()  # before the model is evaluated or checkpointed
            row = {"lr": self._lr(m)}
            if m.count:
                row["train_loss"] = float(m.loss_sum) / m.count
                if self.data.task != "regression":
                    row["train_acc"] = float(m.correct) / m.count
            for k, v in evaluate(m.model, d.x_test, d.y_test, m.loss_fn, self.data.task).items():
                row[f"test_{k}"] = v
            row.update(compute_metrics(self.metric_names, m.model, d.x_test, d.y_test,
                                       m.loss_fn, self.config))
            m.loss_sum, m.correct, m.count = 0.0, 0.0, 0
            values.update({f"{m.prefix}{k}": v for k, v in row.items()})
        if len(self.members) == 2:
            a, b = (m.model for m in self.members)
            for name in self.metric_names:
                if name in COMPARATIVE_METRICS:
                    values[name] = COMPARATIVE_METRICS.get(name)(a, b)
        values["epoch"] = float(self.sampler.epoch)
        return finite_metrics(values, self.step)

    def _watched(self, values: dict[str, float]) -> dict[str, float]:
        """What stoppers, callbacks and termination_error read: the logged values plus model A's
        under their plain names (a comparative run logs each side only as `a/…`, `b/…`)."""
        prefix = self.members[0].prefix
        if not prefix:
            return values
        return values | {k[len(prefix):]: v for k, v in values.items() if k.startswith(prefix)}

    def _state(self) -> TrainState:
        return TrainState(self.step, self.sampler.epoch, self._lr(self.members[0]),
                          self.control.batch_size, MappingProxyType(self._watched(self.last)))

    def _payload(self) -> dict[str, Any]:
        models = [m.model.state_dict() for m in self.members]
        return {"model": models[0], "models": models,  # one dict: the file holds it once
                "optimizers": [m.optimizer.state_dict() for m in self.members],
                "control": self.control.state_dict(), "sampler": self.sampler.state_dict(),
                "stoppers": [s.state_dict() for s in self.stoppers],
                "next_checkpoint": self.next_checkpoint, "last": self.last,
                # running train loss/accuracy since the last evaluation (a stop can fall mid-window)
                "running": [(float(m.loss_sum), float(m.correct), m.count) for m in self.members]}

    def save_checkpoint(self) -> Path | None:
        """Write a checkpoint; first flush the reporter (when it buffers), so a checkpoint never
        runs ahead of the stored metrics: a run resumed from it loses no point."""
        if self.checkpoint_dir is None:
            if self.keep_snapshots:  # no folder: keep the trajectory in memory for the probes
                self.snapshots.append((self.step, {k: v.detach().cpu().clone() for k, v in
                                                   self.members[0].model.state_dict().items()}))
            return None
        flush = getattr(self.reporter, "flush", None)
        if callable(flush):
            flush()
        self.saved_step = self.step
        return checkpoints.save(self.checkpoint_dir, self.step, self._payload())

    def restore(self, ckpt: dict[str, Any]) -> None:
        """Continue from a checkpoint dict (see `checkpoints.load`)."""
        for m, model_state, opt_state in zip(self.members, ckpt["models"], ckpt["optimizers"]):
            m.model.load_state_dict(model_state)
            m.optimizer.load_state_dict(opt_state)
        self.control.load_state_dict(ckpt["control"])
        self.sampler.load_state_dict(ckpt["sampler"])
        for s, state in zip(self.stoppers, ckpt["stoppers"]):
            s.load_state_dict(state)
        self.step, self.next_checkpoint, self.last = ckpt["step"], ckpt["next_checkpoint"], ckpt["last"]
        for m, (loss_sum, correct, count) in zip(self.members, ckpt.get("running", [])):
            m.loss_sum, m.correct, m.count = loss_sum, correct, count
        checkpoints.set_rng_state(ckpt["rng"])
        if hasattr(self.reporter, "resumed"):
            self.reporter.resumed(self.step)

    # --- the loop ------------------------------------------------------------------------
    def run(self, resume: dict[str, Any] | None = None) -> TrainResult:
        """Train to the end; numbers that blow up, or a layer's linear algebra failing on
        them, end the run as `diverged` with the step, the quantity and a one-line reason."""
        try:
            return self._run(resume)
        except DivergedError as e:
            error = e
        except torch.linalg.LinAlgError as e:
            found = [m.guard.factorisation_error(self.step, e) for m in self.members]
            error = next((f for f in found if f.quantity != "factorisation"), found[0])
        return TrainResult("diverged", error.step, self.last, str(error), diverged=error.record())

    def _run(self, resume: dict[str, Any] | None) -> TrainResult:
        for m in self.members:
            m.model.train()
        if resume is not None:
            self.restore(resume)
        else:
            self._pre_floss()
            self.save_checkpoint()  # step 0: θ_init, the start of trajectories and interpolations
        from lipcore.training.measurements import run_measurements

        stopped_by = None
        while not self._done():
            for cb in self.callbacks:
                cb(self._state(), self.control)
            if self.control.stop:
                stopped_by = self.control.stop_reason or "callback"
                break
            self.sampler.batch_size = self.control.batch_size
            epoch_before = self.sampler.epoch
            if self.blockwise:
                from lipcore.training.blockwise import blockwise_round

                blockwise_round(self, self.members[0])
            else:
                x, y, _ = self.sampler.next()
                for m in self.members:
                    self._sgd_step(m, x, y)
            self.step += 1
            if self.cfg["measurements"] and self.step % self.cfg["measurement_every"] == 0:
                self.reporter.log(run_measurements(self), self.step)
                self.measured_at = self.step
            due = (self.step % self.cfg["eval_every"] == 0) if self.cfg["eval_every"] else \
                self.sampler.epoch > epoch_before
            if due or self.control.evaluate or self._done():
                self.control.evaluate = False
                stopped_by = self._after_evaluation()
                if stopped_by:
                    break
            if self.progress:
                self.progress(self.step, self.total)
            if self.reporter.should_stop():  # cancelled or handed back: keep the work done
                for m in self.members:  # never keep a checkpoint of a diverged step
                    m.guard.raise_if_tripped()
                if self.checkpoint_dir is not None:
                    self.save_checkpoint()
                return TrainResult("cancelled", self.step, self.last)
        if self.members[0].count:  # stopped between evaluations: evaluate once more
            self._after_evaluation(check=False)
        if self.cfg["measurements"] and self.measured_at != self.step:
            # the trained model is always measured, even when the run (a stopper, or a
            # block-wise run whose steps are rounds) ends before `measurement_every` steps
            self.reporter.log(run_measurements(self), self.step)
        self.final_checkpoint()
        return TrainResult("succeeded", self.step, self.last, stopped_by=stopped_by)

    def final_checkpoint(self) -> None:
        """The run's last checkpoint, unless one already stands at this step, and its artifact row
        (one per run: the folder holds the trajectory; cheap for DB sinks)."""
        if self.checkpoint_dir is None:
            if not self.snapshots or self.snapshots[-1][0] != self.step:
                self.save_checkpoint()
            return
        path = Path(self.checkpoint_dir) / f"step_{self.step:08d}.pt"
        # (a pack's file may still be on its way to disk: `saved_step` knows it was asked for)
        if self.saved_step != self.step and not path.is_file():
            path = self.save_checkpoint()
        self.reporter.artifact("checkpoint", str(path), "checkpoint")

    def _after_evaluation(self, check: bool = True) -> str | None:
        values = self._evaluate()
        self.last = values
        self.reporter.log(values, self.step)
        if self.step >= self.next_checkpoint:
            self.save_checkpoint()
            self.next_checkpoint = (self.step // self.checkpoint_every + 1) * self.checkpoint_every
        if not check:
            return None
        values = self._watched(values)
        for stopper in self.stoppers:
            reason = stopper(values)
            if reason:
                return reason
        target = self.cfg["termination_error"]
        if target is not None and values.get("train_loss", math.inf) <= target:
            return f"termination_error: train_loss {values['train_loss']:.4g} <= {target}"
        return None


def _to_device(data: Dataset, device: torch.device) -> Dataset:
    if device.type == "cpu":
        return data
    import dataclasses

    moved = dataclasses.replace(data, x_train=data.x_train.to(device), y_train=data.y_train.to(device),
                                x_test=data.x_test.to(device), y_test=data.y_test.to(device))
    if data.sampler is not None:
        inner = data.sampler
        moved.sampler = lambda n, g: tuple(t.to(device) for t in inner(n, g))
    return moved


def train(model: nn.Module, data: Dataset, cfg: dict[str, Any], reporter: Any = None,
          progress: Callable[[int, int], None] | None = None, *, config: dict[str, Any] | None = None,
          checkpoint_dir: str | Path | None = None, resume: dict[str, Any] | None = None) -> TrainResult:
    """Train one model on `data` with the `training` section `cfg` (`config`: the whole
    validated config, for the flossing and data sections)."""
    device = pick_device(cfg["device"])
    member = make_member(model, data, cfg, device)
    engine = Engine([member], data, config or {"training": cfg}, reporter, progress,
                    checkpoint_dir, device)
    return engine.run(resume)
