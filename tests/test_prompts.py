"""Prompts are rendered exactly as the authors' generate_prompt renders their JSON records."""

from __future__ import annotations

import json

from bench.data.domains import load_domain
from bench.data.prompts import alpaca_prompt


def authors_prompt(record: dict) -> str:
    """evaluate.py / finetune_rec.py of the TALLRec repository, for a record with an input, verbatim."""
    return (
        "Below is an instruction that describes a task, paired with an input that provides further context. "
        "Write a response that appropriately completes the request.  # noqa: E501\n\n"
        f"### Instruction:\n{record['instruction']}\n\n### Input:\n{record['input']}\n\n### Response:\n"
    )


def test_prompts_equal_the_authors_for_released_records(data_dir):
    for domain in ("movie", "book"):
        records = json.loads((data_dir / "tallrec" / domain / "test.json").read_text())
        samples = load_domain(domain, data_dir).test
        assert [alpaca_prompt(s) for s in samples[:200]] == [authors_prompt(r) for r in records[:200]]
