"""Helpers shared by the benchmark scripts."""

from __future__ import annotations

import csv
import os
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from fewshot.prompt import Example, FewShotPrompt, Template

if TYPE_CHECKING:
    from fewshot.backends.local import LocalBackend

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
TARGET_TOKENS = 427
TEMPLATE = Template(input_prefix="Review: ", output_prefix="\nSentiment: ", separator="\n###\n")
TASK = "Classify the sentiment of each movie review as positive or negative."


def build_prompt(backend: LocalBackend) -> tuple[FewShotPrompt, str]:
    """Examples from SST-2 train (or the built-in preset) until the prompt is about TARGET_TOKENS
    tokens; and a second query for re-runs."""
    if (DATA / "sst2_train.csv").exists():
        with open(DATA / "sst2_train.csv", newline="") as f:
            pool = [Example(input=r["text"], output=r["label"]) for r in csv.DictReader(f)][:200]
        with open(DATA / "sst2_dev.csv", newline="") as f:
            queries = [r["text"] for r in csv.DictReader(f)][:2]
    else:
        from fewshot import presets

        pool = list(presets.find("sentiment").examples) * 20
        queries = ["What a waste of two hours.", "A warm, funny and clever film."]
    examples: list[Example] = []
    for example in pool:  # take the examples that still fit, until the prompt is within 8 tokens of the target
        candidate = FewShotPrompt(task=TASK, examples=(*examples, example), query=queries[0], template=TEMPLATE)
        n = backend.count_tokens(candidate.render())
        if n <= TARGET_TOKENS:
            examples.append(example)
        if n > TARGET_TOKENS - 8 and n <= TARGET_TOKENS:
            break
    return FewShotPrompt(task=TASK, examples=tuple(examples), query=queries[0], template=TEMPLATE), queries[1]


def preset_json(prompt: FewShotPrompt, columns: list[dict], samples: int = 1) -> dict:
    """A preset for the API's `run`: a prompt, its columns and how often each is sampled."""
    return {"name": "benchmark", "task": prompt.task, "examples": [e.model_dump() for e in prompt.examples],
            "query": prompt.query, "template": prompt.template.model_dump(), "columns": columns, "samples": samples}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_mb(pid: int | None = None) -> float:
    """Peak resident memory (VmHWM) of a process, in MB."""
    for line in Path(f"/proc/{pid or os.getpid()}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")
