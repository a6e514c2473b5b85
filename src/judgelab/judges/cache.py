"""The judgment store as a caching wrapper around any Judge.

``CachedJudge(judge, store)`` answers every item it has seen before (same judge identity, mode,
inputs, meta and sample index) from the SQLite store and sends only the rest to ``judge``, in one
``ajudge`` call; every new verdict is written the moment it exists, so a killed run loses only
what was in flight. A verdict whose backend failed is not stored: a rerun retries it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from judgelab.data.store import JudgmentStore, stable_hash
from judgelab.judges.base import JudgeBase, OnResult, item_mode
from judgelab.judges.types import Item, Mode, PointwiseItem, Verdict


class CachedJudge(JudgeBase):
    def __init__(self, judge: Any, store: JudgmentStore):
        self.inner = judge
        self.store = store

    name = property(lambda self: self.inner.name)  # type: ignore[assignment]
    modes = property(lambda self: self.inner.modes)  # type: ignore[assignment]
    scale = property(lambda self: self.inner.scale)  # type: ignore[assignment]
    temperature = property(lambda self: getattr(self.inner, "temperature", 0.0))  # type: ignore[assignment]
    backend_calls = property(lambda self: getattr(self.inner, "backend_calls", 0))  # type: ignore[assignment]

    def identity(self) -> dict[str, Any]:
        return self.inner.identity()

    def spec(self) -> dict[str, Any] | None:
        return self.inner.spec() if hasattr(self.inner, "spec") else None

    def with_temperature(self, temperature: float) -> "CachedJudge":
        inner = self.inner.with_temperature(temperature) if hasattr(self.inner, "with_temperature") else self.inner
        return self if inner is self.inner else CachedJudge(inner, self.store)

    def __getattr__(self, attr: str) -> Any:
        # Implementation-specific extras (an LLMJudge's config, template, parse) stay reachable.
        if attr in ("inner", "store"):
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def key(self, item: Item, sample_index: int = 0, identity: dict[str, Any] | None = None) -> str:
        """The store key of one verdict; ``identity`` (the judge's, computed once per batch by
        ``ajudge``) saves recomputing it per item: for a trained judge it stats the weight files."""
        mode: Mode = item_mode(item)
        if isinstance(item, PointwiseItem):
            inputs: dict[str, Any] = {"prompt": item.prompt, "response": item.response}
        else:
            inputs = {"prompt": item.prompt, "a": item.response_a, "b": item.response_b}
        judge = identity if identity is not None else self.identity()
        return stable_hash({"judge": judge, "mode": mode, "inputs": inputs, "meta": item.meta, "sample": sample_index})

    async def ajudge(self, items: Sequence[Item], *, sample_index: int = 0,
                     on_result: OnResult | None = None) -> list[Verdict]:
        ident = self.identity()
        keys = [self.key(it, sample_index, ident) for it in items]
        out: list[Verdict | None] = [None] * len(items)
        todo: list[int] = []
        for i, (it, k) in enumerate(zip(items, keys)):
            hit = self.store.get(k)
            if hit is None:
                todo.append(i)
                continue
            v = Verdict.from_dict(hit)
            v.item_id, v.cached = it.id, True
            out[i] = v
            if on_result is not None:
                on_result(v)

        done: set[int] = set()

        def store(v: Verdict, i: int) -> None:
            done.add(i)
            if v.error is None:
                self.store.put(keys[i], v.to_dict(), judge=self.name, mode=v.mode, item_id=items[i].id)
            if on_result is not None:
                on_result(v)

        if todo:
            # Each verdict is stored as it arrives (a killed run keeps it), matched by item id
            # when ids are unique; anything unmatched is stored once all are back.
            ids = [items[i].id for i in todo]
            pos = dict(zip(ids, todo)) if len(set(ids)) == len(ids) else {}

            def each(v: Verdict) -> None:
                i = pos.get(v.item_id)
                if i is not None and i not in done:
                    store(v, i)

            fresh = await self.inner.ajudge([items[i] for i in todo], sample_index=sample_index, on_result=each)
            for i, v in zip(todo, fresh):
                out[i] = v
                if i not in done:
                    store(v, i)
        return out  # type: ignore[return-value]

    async def aclose(self) -> None:
        await self.inner.aclose()
