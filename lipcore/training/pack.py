"""Packed training: the members of a pack take their steps together, as one vectorised job.

Each member is an ordinary single-run `Engine` (its own model built with its own
`model.model_seed`, its own `BatchSampler` seeded by its `training.batch_seed`, callbacks,
stoppers, reporter and checkpoint folder), so everything but the optimizer step is exactly the
solo code path: evaluation, metrics, logging, stoppers, checkpoints, resume.

The step is shared. The members' parameters are stacked into one tensor per parameter name
with a leading member dimension P, and each member's `nn.Parameter` is re-pointed at its slice
(`p.data = stack[i]`), so the stack is the only copy. One forward over (P, B, …) batches gives
the P objectives — by the model's stacked rules on the stacks directly when it has them
(`stacked_rules`: MLP, DeepLinear, sequential LDLT nets; with flossing when every step also
has a stacked tangent rule, `stacked_flossing`), else by `vmap(functional_call)` of one
member's forward; one backward gives the P gradients (the sum of independent objectives
has each member's own gradient); `StackedOptimizer` applies torch's SGD
or Adam/AdamW update with per-member learning rate, weight decay and momentum, over state that
is again one tensor per name whose slices are the members' `torch.optim` state, so a
checkpoint holds what a solo run's would.

Non-finite numbers are screened per member on the device (`StackedGuard`, the solo
`NumericGuard` over the member dimension): a member whose objective, gradients or parameters
become non-finite has that step's gradients zeroed, and ends `diverged` at its next
evaluation, checkpoint or end, reporting its first bad step as its solo run does; its
neighbours' rows are untouched. Its running train loss and accuracy, like everyone's, are
summed on the device too, so a step costs no host sync; the flags and sums are read once per
round in which some member evaluates or stops. One whose stopper
fires, whose cancel arrives or whose epochs are done ends alone. The stack is then rebuilt from
the members still training (each finished member keeps a copy of its own tensors). A step the
vectorised path cannot take (unequal batch sizes after a callback, an error in the batched
forward) is taken member by member through the solo `Engine._sgd_step` on the same tensors.

Storing is per round, not per member: a member's checkpoint asked for during a round is taken
(its payload, the tensors as they are) and written at the round's end, after one flush of every
member's reporter (`flush_many`, one store transaction for the whole pack where the reporters
allow it), so a checkpoint still never runs ahead of the stored points. Points are flushed so
at least every `FLUSH_EVERY_S` seconds.
"""
from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import torch
from torch import nn

from lipcore.training import checkpoints, pack_metrics_native, pack_objective, stacked_rules
from lipcore.training.forked_writes import ForkedWrites
from lipcore.training.pack_objective import MemberObjective, flossing_due
from lipcore.training.loop import Engine, TrainResult
from lipcore.training.members import DivergedError, finite_metrics
from lipcore.training.stacked_guard import StackedGuard
from lipcore.training.stacked_optim import StackedOptimizer

#: the longest a pack keeps logged points unstored (a solo `DBReporter` flushes every second)
FLUSH_EVERY_S = 1.0


def flush_each(reporters: Sequence[Any]) -> None:
    """The default `flush_many`: each reporter that buffers flushes on its own."""
    for reporter in reporters:
        flush = getattr(reporter, "flush", None)
        if callable(flush):
            flush()


def model_of(engine: Engine) -> nn.Module:
    """The one model of a single-run engine."""
    return engine.members[0].model


def _invalidate(model: nn.Module) -> None:
    """Drop inference caches keyed on parameter versions: a stacked update does not bump the
    members' own version counters."""
    for module in model.modules():
        if hasattr(module, "invalidate"):
            module.invalidate()


class PackTrainer:
    """Drives `engines` (one per member, equal but for free keys) in lockstep; see the module
    docstring. `run(resumes)` returns one `TrainResult` per engine."""

    def __init__(self, engines: list[Engine],
                 flush_many: Callable[[list[Any]], None] | None = None):
        self.engines = engines
        self.flush_many = flush_many or flush_each
        self.deferred: dict[int, tuple[Engine, dict[str, Any]]] = {}  # member → its payload
        self.writes = ForkedWrites()
        self.flushed_at = time.monotonic()
        for i, e in enumerate(engines):
            e.save_checkpoint = lambda i=i: self._defer_checkpoint(i)
        self.results: dict[int, TrainResult] = {}
        self.template = MemberObjective(copy.deepcopy(model_of(engines[0])))
        self.names = [n for n, _ in model_of(engines[0]).named_parameters()]
        self.floss = engines[0].floss if engines[0].floss.get("enabled") else None
        self.loss_fn = engines[0].members[0].loss_fn
        # the stacked rules' path when the model and loss have them (and, for flossing, every
        # step its stacked tangent rule)
        self.native_loss = stacked_rules.find_loss_rule(self.loss_fn)
        self.native = None if self.native_loss is None else stacked_rules.plan(self.template.model)
        if self.native is not None and self.floss and not self.native.tangents:
            self.native = None
        self.native_metrics = None if self.native is None else \
            pack_metrics_native.Stacked(self.native, self.loss_fn, engines[0].config)
        self.task = engines[0].data.task
        self.device = engines[0].device
        self.active: list[int] = []
        self.failed: dict[int, str] = {}  # member → error of a step that raised
        self.vector_names: list[str] = []  # metrics the last evaluation computed for all at once
        self.params: dict[str, torch.Tensor] = {}
        self.rows = torch.zeros(0, dtype=torch.long, device=engines[0].device)  # active members' rows
        self.optimizer: StackedOptimizer | None = None
        device = engines[0].device
        self.guard = StackedGuard(self.names, len(engines), device, torch.get_default_dtype())
        self.solo_stepped: set[int] = set()  # members whose own NumericGuard has screened
        self.broken: dict[int, DivergedError] = {}  # member → a factorisation failing alone
        # each member's running train loss / hits since its last evaluation, on the device
        # (what `Member.loss_sum` / `.correct` hold in a solo run); read by `_pull`
        self.loss_sum = torch.zeros(len(engines), dtype=torch.get_default_dtype(), device=device)
        self.correct = torch.zeros(len(engines), dtype=torch.float32, device=device)
        self._sums: tuple[list[float], list[float]] | None = None  # their host copy
        self._weights: tuple[tuple[int, ...] | None, torch.Tensor | None] = (None, None)

    # --- the stack -----------------------------------------------------------------------
    def _link(self, active: list[int]) -> None:
        """Stack the parameters and optimizer state of `active` members and re-point each
        member's tensors at its slice; members dropped from the stack keep their own copy."""
        for i in self.active:
            if i not in active:
                for p in model_of(self.engines[i]).parameters():
                    p.data = p.data.clone()
                self._unlink_state(i)
        self.active = active
        if not active:
            return
        self.rows = torch.tensor(active, dtype=torch.long, device=self.loss_sum.device)
        models = [model_of(self.engines[i]) for i in active]
        per_model = [dict(m.named_parameters()) for m in models]
        self.params = {n: torch.stack([ps[n].detach() for ps in per_model]) for n in self.names}
        for j, ps in enumerate(per_model):
            for n in self.names:
                ps[n].data = self.params[n][j]
        self.optimizer = StackedOptimizer([self.engines[i].members[0] for i in active], self.params)

    def _unlink_state(self, i: int) -> None:
        opt = self.engines[i].members[0].optimizer
        for state in opt.state.values():
            for k, v in list(state.items()):
                if torch.is_tensor(v):
                    state[k] = v.clone()

    # --- storing ---------------------------------------------------------------------------
    def _defer_checkpoint(self, i: int) -> Path | None:
        """`Engine.save_checkpoint` for member i inside a pack: the payload is taken now and
        written by `_store` at the end of the round; returns the path it will have."""
        e = self.engines[i]
        if e.checkpoint_dir is None:
            return Engine.save_checkpoint(e)
        self.deferred[i] = (e, {"step": e.step, "rng": checkpoints.rng_state(), **e._payload()})
        e.saved_step = e.step
        return Path(e.checkpoint_dir) / f"step_{e.step:08d}.pt"

    def _store(self) -> None:
        """One flush of every member's points, then the round's checkpoints in one pass (the
        tensors they hold are not stepped before the next round)."""
        if not self.deferred and time.monotonic() - self.flushed_at < FLUSH_EVERY_S:
            return
        self.flush_many([e.reporter for e in self.engines])
        self.flushed_at = time.monotonic()
        deferred, self.deferred = self.deferred, {}
        # written by a forked child from the tensors as they are now (`forked_writes`)
        self.writes.submit([(e.checkpoint_dir, payload["step"], payload)
                            for e, payload in deferred.values()])

    # --- one step ------------------------------------------------------------------------
    def _batches(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Each active member's next batch from its own sampler (its `batch_seed`)."""
        xs, ys = [], []
        for i in self.active:
            e = self.engines[i]
            e.sampler.batch_size = e.control.batch_size
            x, y, _ = e.sampler.next()
            xs.append(x)
            ys.append(y)
        return xs, ys

    def _vector_step(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> None:
        """One optimizer step of every active member, screened per member by the
        `StackedGuard`; no host sync."""
        engines = [self.engines[i] for i in self.active]
        step = engines[0].step
        floss = flossing_due(self.floss, step)
        shared = all(x is xs[0] for x in xs) and all(y is ys[0] for y in ys)
        x = xs[0] if shared else torch.stack(xs)
        y = ys[0] if shared else torch.stack(ys)
        leaves = {n: t.detach().requires_grad_() for n, t in self.params.items()}
        if self.native is not None:
            objective, loss, out = pack_objective.native_objective(
                self.native, self.native_loss, self.loss_fn, leaves, x, y, shared, floss, step,
                self._floss_weights(engines, x))
        else:
            objective, loss, out = pack_objective.vmap_objective(
                self.template, self.loss_fn, leaves, x, y, shared, floss, step,
                self._floss_weights(engines, x))
        grads = pack_objective.member_grads(self.names, objective, leaves)
        self.guard.screen(step, self.rows, self.params, objective, grads)
        lrs = [e._lr(e.members[0]) for e in engines]
        for e, lr in zip(engines, lrs):
            for group in e.members[0].optimizer.param_groups:
                group["lr"] = lr
        self.optimizer.step(grads, lrs)
        n = len(ys[0])
        self.loss_sum.index_add_(0, self.rows, loss.detach() * n)
        if self.task != "regression":
            self.correct.index_add_(0, self.rows, pack_objective.correct_per_member(out.detach(), y, shared))
        for e in engines:
            e.members[0].count += n
        self._sums = None

    def _floss_weights(self, engines: list[Engine], like: torch.Tensor) -> torch.Tensor:
        """(P,) each member's `flossing.weight` (cached while the stack stands)."""
        key = tuple(self.active)
        if self._weights[0] != key:
            dtype = like.dtype if like.is_floating_point() else torch.get_default_dtype()
            self._weights = key, torch.tensor([e.floss.get("weight", 0.0) for e in engines],
                                              dtype=dtype, device=like.device)
        return self._weights[1]

    def _solo_step(self, i: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """The solo path on the stacked tensors, for a step that does not vectorise (screened
        by the member's own `NumericGuard`, its running sums moved through `Member`)."""
        e = self.engines[i]
        m = e.members[0]
        m.loss_sum, m.correct = self.loss_sum[i], self.correct[i]
        e._sgd_step(m, x, y)
        self.loss_sum[i] = m.loss_sum
        self.correct[i] = m.correct
        self.solo_stepped.add(i)
        self.optimizer.resync()
        self._sums = None

    # --- what the device holds per member, read once per round ---------------------------
    def _pull(self, i: int) -> None:
        """Member i's running sums from the device into its `Member` (as floats, one read for
        the whole pack per round), before the engine's code reads them."""
        if self._sums is None:
            self._sums = (self.loss_sum.tolist(), self.correct.tolist())
        m = self.engines[i].members[0]
        m.loss_sum, m.correct = self._sums[0][i], self._sums[1][i]

    def _push(self, reset: list[int]) -> None:
        """Members whose engine code reset their running sums (an evaluation) start again."""
        if reset:
            index = torch.tensor(reset, dtype=torch.long, device=self.loss_sum.device)
            self.loss_sum.index_fill_(0, index, 0.0)
            self.correct.index_fill_(0, index, 0.0)
            self._sums = None

    def _diverged(self, i: int) -> DivergedError | None:
        """Member i's first non-finite event (the stacked record, or its own guard's when it
        took solo steps), checking the parameters' last update first, as the solo guard does
        before an evaluation or checkpoint."""
        if self.guard._host is None:
            self.guard.check_parameters(self.rows, self.params)
        found = [err for err in (self.guard.error(i), self.broken.get(i)) if err is not None]
        if i in self.solo_stepped:
            own = self.engines[i].members[0].guard.tripped()
            if own is not None:
                found.append(own)
        return min(found, key=lambda err: err.step) if found else None

    # --- the loop ------------------------------------------------------------------------
    def run(self, resumes: list[dict[str, Any] | None]) -> list[TrainResult]:
        fresh = []
        for i, (e, resume) in enumerate(zip(self.engines, resumes)):
            model_of(e).train()
            if resume is not None:
                e.restore(resume)
            else:
                fresh.append(i)
        for i, e in enumerate(self.engines):  # a resumed member's running sums
            self.loss_sum[i] = float(e.members[0].loss_sum)
            self.correct[i] = float(e.members[0].correct)
        self._link(list(range(len(self.engines))))
        self._pre_floss(fresh)
        for i in fresh:
            if i in self.active:
                self.engines[i].save_checkpoint()
        try:
            self._store()
            while self.active:
                self._one_round()
                self._store()
        finally:
            for e in self.engines:
                del e.save_checkpoint  # the engine's own again (probes may checkpoint after)
            self.writes.wait()  # every file on disk before the pack's results are read
        return [self.results[i] for i in range(len(self.engines))]

    def _pre_floss(self, fresh: list[int]) -> None:
        """`Engine._pre_floss` for the fresh members together: `flossing.pre_epochs` epochs
        of the penalty alone (each member's batches from its `batch_seed + 1`, the tangents of
        step 0, the configured lr, no clip), then the optimizer moments are dropped."""
        epochs = self.floss.get("pre_epochs", 0) if self.floss else 0
        if not epochs or not fresh:
            return
        from lipcore.training.batches import BatchSampler

        samplers = {i: BatchSampler(self.engines[i].data_dev, self.engines[i].cfg["batch_size"],
                                    self.engines[i].cfg["batch_seed"] + 1,
                                    online=self.engines[i].sampler.online) for i in fresh}
        while any(i in self.active and samplers[i].epoch < epochs for i in fresh):
            rows = [i for i in self.active if i in samplers and samplers[i].epoch < epochs]
            xs = {i: samplers[i].next()[0] for i in rows}
            values = self._penalty_step(rows, xs)
            errors = {i: DivergedError(0, "flossing penalty", f"became non-finite ({v})", v)
                      for i, v in zip(rows, values) if not math.isfinite(v)}
            diverged = {i: TrainResult("diverged", 0, {}, str(err), diverged=err.record())
                        for i, err in errors.items()}
            if diverged:
                self._settle(diverged)
        for i in self.active:
            self.engines[i].members[0].optimizer.state.clear()
        self._link(list(self.active))

    def _penalty_step(self, rows: list[int], xs: dict[int, torch.Tensor]) -> list[float]:
        """One step of the flossing penalty alone for members `rows` (all active ones, or a
        subset taken through the solo path)."""
        if rows != self.active or len({tuple(x.shape) for x in xs.values()}) != 1:
            return [self._solo_penalty(i, xs[i]) for i in rows]
        leaves = {n: t.detach().requires_grad_() for n, t in self.params.items()}
        x = torch.stack([xs[i] for i in rows])
        penalty = pack_objective.vmap_penalty(self.template, leaves, x, self.floss) \
            if self.native is None else pack_objective.native_penalty(self.native, leaves, x, self.floss)
        values = penalty.detach().tolist()
        grads = pack_objective.member_grads(self.names, penalty, leaves)
        lrs = [self.engines[i].members[0].optimizer.param_groups[0]["lr"] for i in rows]
        self.optimizer.step(grads, lrs,
                            [math.isfinite(v) for v in values], clip=False)
        return values

    def _solo_penalty(self, i: int, x: torch.Tensor) -> float:
        e = self.engines[i]
        opt = e.members[0].optimizer
        penalty = e._floss_penalty(model_of(e), x)
        value = float(penalty.detach())
        if math.isfinite(value):
            opt.zero_grad(set_to_none=True)
            penalty.backward()
            opt.step()
        return value

    def _one_round(self) -> None:
        ending: dict[int, TrainResult] = {}
        for i in self.active:
            e = self.engines[i]
            if e._done():
                ending[i] = self._finish(i, None)
                continue
            for cb in e.callbacks:
                cb(e._state(), e.control)
            if e.control.stop:
                ending[i] = self._finish(i, e.control.stop_reason or "callback")
        if ending:
            self._settle(ending)
            if not self.active:
                return
        epochs = {i: self.engines[i].sampler.epoch for i in self.active}
        xs, ys = self._batches()
        self._step(xs, ys)
        stepped = []
        for i in list(self.active):
            e = self.engines[i]
            if i in self.failed:
                ending[i] = TrainResult("failed", e.step, e.last, self.failed[i])
            else:
                e.step += 1
                stepped.append(i)
        due = [i for i in stepped if self._due(self.engines[i], epochs[i])]
        stopping = [i for i in stepped if self.engines[i].reporter.should_stop()]
        for i in dict.fromkeys(due + stopping):  # one read of the guard for the whole pack
            err = self._diverged(i)
            if err is not None:
                ending[i] = TrainResult("diverged", err.step, self.engines[i].last, str(err),
                                        diverged=err.record())
        due = [i for i in due if i not in ending]
        extra = self._vector_metrics(due)
        reset = []
        for i in stepped:
            if i in ending:
                continue
            result = self._after_step(i, i in due, i in stopping, extra.get(i))
            if i in due:
                reset.append(i)
            if result is not None:
                ending[i] = result
        self._push(reset)
        if ending:
            self._settle(ending)

    @staticmethod
    def _due(e: Engine, epoch_before: int) -> bool:
        """Whether `Engine.run` would evaluate after this step."""
        due = (e.step % e.cfg["eval_every"] == 0) if e.cfg["eval_every"] else \
            e.sampler.epoch > epoch_before
        return bool(due or e.control.evaluate or e._done())

    def _vector_metrics(self, due: list[int]) -> dict[int, dict[str, float]]:
        """Test loss/accuracy and the vectorised metrics (`pack_metrics`) that all members
        evaluated now ask for, for all of them at once; empty when the batched call fails (the
        solo evaluation then runs)."""
        from lipcore.training.pack_metrics import VECTOR_METRICS, pack_metrics
        from lipcore.training.pack_metrics_native import native_pack_metrics

        if not due:
            return {}
        names = [n for n in self.engines[due[0]].metric_names if n in VECTOR_METRICS
                 and all(n in self.engines[i].metric_names for i in due)]
        rows = torch.tensor([self.active.index(i) for i in due], device=self.device)
        stacked = {n: t.index_select(0, rows) for n, t in self.params.items()}
        data = [self.engines[i].data_dev for i in due]
        shared = all(d is data[0] for d in data)
        x = data[0].x_test if shared else torch.stack([d.x_test for d in data])
        y = data[0].y_test if shared else torch.stack([d.y_test for d in data])
        try:
            values = None if self.native is None else native_pack_metrics(
                names, self.native_metrics, stacked, x, y, shared, self.task)
            if values is None:
                values = pack_metrics(names, self.template.model, stacked, x, y, self.loss_fn,
                                      shared, self.task, self.engines[due[0]].config)
        except RuntimeError:
            return {}
        self.vector_names = names
        return dict(zip(due, values))

    def _step(self, xs: list, ys: list) -> None:
        """The vectorised step when the batches stack, else the solo path member by member.
        When the batched step raises (e.g. a batched factorisation failing for one member),
        the members whose batched forward fails are found by bisection and take the solo
        step; the others take the vectorised step without them."""
        if len({tuple(x.shape) for x in xs}) == 1:
            try:
                return self._vector_step(xs, ys)
            except RuntimeError:
                if self._step_without_failing(xs, ys):
                    return None
        for i, x, y in zip(self.active, xs, ys):
            self._solo_one(i, x, y)
        return None

    def _solo_one(self, i: int, x: torch.Tensor, y: torch.Tensor) -> None:
        """Member i's solo step; a step that raises ends it: `diverged` for a layer's linear
        algebra failing (as `Engine.run` says it), `failed` for anything else."""
        try:
            self._solo_step(i, x, y)
        except torch.linalg.LinAlgError as err:  # the first failure is the member's divergence
            self.broken.setdefault(i, self.engines[i].members[0].guard.factorisation_error(
                self.engines[i].step, err))
        except Exception as err:  # noqa: BLE001 - this member fails, its neighbours go on
            self.failed[i] = f"{type(err).__name__}: {err}"

    def _step_without_failing(self, xs: list, ys: list) -> bool:
        """The solo step for the members whose batched forward fails, the vectorised step
        (again through `_step`) for the rest; False when the forward fails for none (the
        failure is elsewhere) or for all (nothing was stepped)."""
        active = list(self.active)
        bad = self._failing(list(range(len(active))), xs, ys)
        if not bad or len(bad) == len(active):
            return False
        for j in bad:
            self._solo_one(active[j], xs[j], ys[j])
        keep = [j for j in range(len(active)) if j not in bad]
        self._link([active[j] for j in keep])
        try:
            self._step([xs[j] for j in keep], [ys[j] for j in keep])
        finally:
            self._link(active)
        return True

    def _failing(self, rows: list[int], xs: list, ys: list) -> list[int]:
        """The rows (positions in the stack) whose batched forward raises, by bisection:
        about 2·log2(P) forwards without gradients for one such member."""
        if not self._forward_fails(rows, xs):
            return []
        if len(rows) == 1:
            return rows
        half = len(rows) // 2
        return self._failing(rows[:half], xs, ys) + self._failing(rows[half:], xs, ys)

    def _forward_fails(self, rows: list[int], xs: list) -> bool:
        step = self.engines[self.active[0]].step
        index = torch.tensor(rows, device=self.device)
        params = {f"model.{n}": t.index_select(0, index) for n, t in self.params.items()}
        return pack_objective.forward_fails(self.template, params, torch.stack([xs[j] for j in rows]),
                                            flossing_due(self.floss, step), step)

    def _after_step(self, i: int, due: bool, stop: bool,
                    extra: dict[str, float] | None) -> TrainResult | None:
        """What `Engine.run` does after member i's step (its guard already read when `due` or
        `stop`): evaluate when due (with the metrics in `extra` already computed for the whole
        pack), stoppers, cancel (`stop`: its reporter asked)."""
        e = self.engines[i]
        if due or stop:
            self._pull(i)
        if due:
            e.control.evaluate = False
            _invalidate(model_of(e))
            try:
                stopped_by = self._evaluate(e, extra or {})
            except DivergedError as err:
                return TrainResult("diverged", err.step, e.last, str(err), diverged=err.record())
            if stopped_by:
                return self._finish(i, stopped_by)
        if e.progress:
            e.progress(e.step, e.total)
        if stop:
            if e.checkpoint_dir is not None:
                e.save_checkpoint()
            return TrainResult("cancelled", e.step, e.last)
        return None

    def _evaluate(self, e: Engine, extra: dict[str, float]) -> str | None:
        """`e._after_evaluation()` with the values in `extra` (test loss/accuracy and the
        metrics `self.vector_names`, computed for the whole pack) instead of computing them
        member by member; the rest is `Engine._evaluate`'s row."""
        if not extra:
            return e._after_evaluation()
        e._evaluate = lambda: self._row(e, extra)
        try:
            return e._after_evaluation()
        finally:
            del e._evaluate

    def _row(self, e: Engine, extra: dict[str, float]) -> dict[str, float]:
        """What `Engine._evaluate` gives for a single member, with `extra` filled in."""
        from lipcore.training.metrics import compute_metrics

        m, d = e.members[0], e.data_dev
        row = {"lr": e._lr(m)}
        if m.count:
            row["train_loss"] = float(m.loss_sum) / m.count
            if self.task != "regression":
                row["train_acc"] = float(m.correct) / m.count
        row.update(extra)
        rest = [n for n in e.metric_names if n not in self.vector_names]
        if rest:  # (the model's eval/train switch alone costs as much as a small pack's step)
            row.update(compute_metrics(rest, m.model, d.x_test, d.y_test, m.loss_fn, e.config))
        m.loss_sum, m.correct, m.count = 0.0, 0.0, 0
        row["epoch"] = float(e.sampler.epoch)
        return finite_metrics(row, e.step)

    def _finish(self, i: int, stopped_by: str | None) -> TrainResult:
        """The end of member i's run, as `Engine.run` ends it: a last evaluation when steps
        were taken since the previous one, then the final checkpoint and its artifact."""
        e = self.engines[i]
        err = self._diverged(i)
        if err is not None:
            return TrainResult("diverged", err.step, e.last, str(err), diverged=err.record())
        if e.members[0].count:  # steps since the last evaluation: their sums
            self._pull(i)
        _invalidate(model_of(e))
        try:
            if e.members[0].count:
                e._after_evaluation(check=False)
        except DivergedError as err:
            return TrainResult("diverged", err.step, e.last, str(err), diverged=err.record())
        e.final_checkpoint()
        return TrainResult("succeeded", e.step, e.last, stopped_by=stopped_by)

    def _settle(self, ending: dict[int, TrainResult]) -> None:
        self.results.update(ending)
        self._link([i for i in self.active if i not in ending])


def train_pack(engines: list[Engine], resumes: list[dict[str, Any] | None] | None = None,
               flush_many: Callable[[list[Any]], None] | None = None) -> list[TrainResult]:
    """Train `engines` as one pack (see the module docstring); `flush_many(reporters)` stores
    the members' buffered points together (default: each reporter's own `flush`)."""
    return PackTrainer(engines, flush_many).run(resumes or [None] * len(engines))


